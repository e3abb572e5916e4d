//! The state machine of a rule's series, without I/O: from the stored
//! memory of each series, its open instance and the values just evaluated,
//! what changes (pending, firing with a new instance, resolved, notified
//! again) as one [`RuleEvaluation`] for the writer.
//!
//! Per series: ok → pending (the condition holds, `for_minutes` not yet
//! over, or a cooldown after the last resolution not yet over) → firing
//! (an instance opens) → resolved (the value no longer meets the condition
//! against the recovery threshold, for `keep_firing_minutes`). No data is
//! what the rule's `no_data` says.

use std::collections::{BTreeMap, HashMap};

use super::evaluate::SeriesValue;
use crate::model::alert::{
    AlertInstance, AlertLabels, AlertRule, InstanceState, NoData, Notification, NotificationEvent,
    Resolution, RuleEvaluation, RuleKind, RuleState, SeriesState,
};
use crate::model::UnixNanos;

/// What the state machine needs from the engine besides data: new ids and
/// the notifications of an instance's event.
pub trait Effects {
    fn new_id(&mut self) -> String;
    fn notifications(
        &mut self,
        rule: &AlertRule,
        instance: &AlertInstance,
        event: NotificationEvent,
    ) -> Vec<Notification>;
}

/// One series as this evaluation saw it.
struct Observation {
    fingerprint: String,
    labels: AlertLabels,
    value: Option<f64>,
    /// The condition holds against the threshold.
    holds: bool,
    /// The condition holds against the recovery threshold: a firing
    /// instance stays.
    still_bad: bool,
}

fn minutes(count: u32, minute: i64) -> i64 {
    i64::from(count) * minute
}

/// The labels an instance carries: the rule's, its severity and service,
/// and the series' own.
pub fn instance_labels(rule: &AlertRule, series: &AlertLabels) -> AlertLabels {
    let mut labels = rule.spec.labels.clone();
    labels.insert("severity".into(), rule.spec.severity.as_str().into());
    if let Some(service) = &rule.spec.service {
        labels.insert("service".into(), service.clone());
    }
    for (name, value) in series {
        labels.insert(name.clone(), value.clone());
    }
    labels
}

/// A value as a person reads it in a message.
pub fn format_value(kind: RuleKind, value: f64) -> String {
    match kind {
        RuleKind::ErrorRate => format!("{:.2} %", value * 100.0),
        RuleKind::Latency => format!("{value:.1} ms"),
        RuleKind::RequestRate => format!("{value:.3}/s"),
        RuleKind::LogCount => format!("{value:.0} records"),
        RuleKind::ErrorGroup => format!("{value:.0} occurrences"),
        RuleKind::Metric | RuleKind::Promql => {
            if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.0}")
            } else {
                format!("{value:.4}")
            }
        }
    }
}

fn message(rule: &AlertRule, value: Option<f64>) -> String {
    let spec = &rule.spec;
    match value {
        Some(value) => format!(
            "{}: {} {} {} over {} min",
            spec.name,
            format_value(spec.kind, value),
            spec.condition.as_str(),
            format_value(spec.kind, spec.threshold),
            spec.window_minutes
        ),
        None => format!(
            "{}: no data in the last {} min",
            spec.name, spec.window_minutes
        ),
    }
}

/// Decides what one evaluation of `rule` changes. `result` is the
/// evaluation's series or its error; `series` and `open` are the rule's
/// stored memory and open instances by fingerprint; `minute` is the
/// length of a minute of the rule's timings in nanoseconds (60 s; tests
/// shorten it).
pub fn transition(
    rule: &AlertRule,
    result: Result<Vec<SeriesValue>, String>,
    series: &HashMap<String, SeriesState>,
    open: &HashMap<String, AlertInstance>,
    (now, minute): (UnixNanos, i64),
    effects: &mut dyn Effects,
) -> RuleEvaluation {
    let spec = &rule.spec;
    let mut evaluation = RuleEvaluation {
        rule_id: rule.id.clone(),
        state: RuleState::Ok,
        last_value: None,
        last_error: None,
        evaluated_at: now,
        put_series: Vec::new(),
        delete_series: Vec::new(),
        fired: Vec::new(),
        resolved: Vec::new(),
        renotified: Vec::new(),
        values: Vec::new(),
    };
    let values = match result {
        Ok(values) => values,
        Err(error) => {
            evaluation.state = RuleState::Error;
            evaluation.last_value = rule.last_value;
            evaluation.last_error = Some(error);
            return evaluation;
        }
    };
    let no_data = values.iter().all(|series| series.value.is_none());
    evaluation.last_value = worst(spec.condition.is_upper(), &values);

    let mut observations: BTreeMap<String, Observation> = BTreeMap::new();
    let mut keep_all = false;
    for value in &values {
        let (holds, still_bad) = match value.value {
            Some(v) => (
                spec.condition.holds(v, spec.threshold),
                spec.condition.holds(v, spec.recovery()),
            ),
            None => match spec.no_data {
                NoData::Ok => (false, false),
                NoData::Firing => (true, true),
                NoData::Keep => continue,
            },
        };
        observations.insert(
            value.fingerprint.clone(),
            Observation {
                fingerprint: value.fingerprint.clone(),
                labels: value.labels.clone(),
                value: value.value,
                holds,
                still_bad,
            },
        );
    }
    if values.is_empty() {
        // A query without result series: no data for the rule as a whole.
        match spec.no_data {
            NoData::Ok => {}
            NoData::Keep => keep_all = true,
            NoData::Firing => {
                observations.insert(
                    String::new(),
                    Observation {
                        fingerprint: String::new(),
                        labels: AlertLabels::new(),
                        value: None,
                        holds: true,
                        still_bad: true,
                    },
                );
            }
        }
    }
    if !keep_all {
        // Series known from before that this evaluation did not return
        // (or returned without data under `no_data: ok`) no longer hold.
        let single_valued_keep =
            !spec.kind.is_multi_series() && spec.no_data == NoData::Keep && no_data;
        for (fingerprint, state) in series {
            if single_valued_keep || observations.contains_key(fingerprint) {
                continue;
            }
            observations.insert(
                fingerprint.clone(),
                Observation {
                    fingerprint: fingerprint.clone(),
                    labels: state.labels.clone(),
                    value: None,
                    holds: false,
                    still_bad: false,
                },
            );
        }
        for (fingerprint, instance) in open {
            if single_valued_keep || observations.contains_key(fingerprint) {
                continue;
            }
            let labels = series
                .get(fingerprint)
                .map(|state| state.labels.clone())
                .unwrap_or_else(|| instance.labels.clone());
            observations.insert(
                fingerprint.clone(),
                Observation {
                    fingerprint: fingerprint.clone(),
                    labels,
                    value: None,
                    holds: false,
                    still_bad: false,
                },
            );
        }
    }

    let mut any_open = open
        .keys()
        .any(|fingerprint| !observations.contains_key(fingerprint));
    let mut any_pending = series.iter().any(|(fingerprint, state)| {
        !observations.contains_key(fingerprint) && state.pending_since.is_some()
    });
    for observation in observations.into_values() {
        let stored = series.get(&observation.fingerprint);
        let instance = open.get(&observation.fingerprint);
        let step = step_series(
            rule,
            &observation,
            (stored, instance),
            (now, minute),
            effects,
        );
        any_open |= step.open;
        any_pending |= step.pending;
        match step.row {
            Row::Put(state) => {
                if stored != Some(&state) {
                    evaluation.put_series.push(state);
                }
            }
            Row::Delete => {
                if stored.is_some() {
                    evaluation
                        .delete_series
                        .push(observation.fingerprint.clone());
                }
            }
        }
        let still_open = step.resolved.is_none();
        if let Some(fired) = step.fired {
            evaluation.fired.push(fired);
        }
        if let Some(resolution) = step.resolved {
            evaluation.resolved.push(resolution);
        }
        if let Some(renotified) = step.renotified {
            evaluation.renotified.push(renotified);
        }
        if let (Some(instance), Some(value), true) = (instance, observation.value, still_open) {
            if instance.value != Some(value) {
                evaluation.values.push((instance.id.clone(), value));
            }
        }
    }
    evaluation.state = if any_open {
        RuleState::Firing
    } else if any_pending {
        RuleState::Pending
    } else if no_data {
        RuleState::NoData
    } else {
        RuleState::Ok
    };
    evaluation
}

/// The highest value for upper conditions, the lowest for lower ones.
fn worst(upper: bool, values: &[SeriesValue]) -> Option<f64> {
    let mut present = values
        .iter()
        .filter_map(|series| series.value)
        .filter(|v| !v.is_nan());
    let first = present.next()?;
    Some(present.fold(first, |a, b| if upper { a.max(b) } else { a.min(b) }))
}

enum Row {
    Put(SeriesState),
    Delete,
}

struct Step {
    row: Row,
    fired: Option<(AlertInstance, Vec<Notification>)>,
    resolved: Option<Resolution>,
    renotified: Option<(String, Vec<Notification>)>,
    /// The series has an open instance after this step.
    open: bool,
    pending: bool,
}

fn step_series(
    rule: &AlertRule,
    observation: &Observation,
    (stored, instance): (Option<&SeriesState>, Option<&AlertInstance>),
    (now, minute): (UnixNanos, i64),
    effects: &mut dyn Effects,
) -> Step {
    let spec = &rule.spec;
    let mut state = stored.cloned().unwrap_or_else(|| SeriesState {
        rule_id: rule.id.clone(),
        fingerprint: observation.fingerprint.clone(),
        labels: observation.labels.clone(),
        pending_since: None,
        cleared_since: None,
        last_resolved_at: None,
    });
    if !observation.labels.is_empty() {
        state.labels = observation.labels.clone();
    }
    let mut step = Step {
        row: Row::Delete,
        fired: None,
        resolved: None,
        renotified: None,
        open: false,
        pending: false,
    };
    if let Some(instance) = instance {
        let resolve_now = if observation.still_bad {
            state.cleared_since = None;
            false
        } else if spec.keep_firing_minutes > 0 {
            let since = *state.cleared_since.get_or_insert(now);
            now.0 - since.0 >= minutes(spec.keep_firing_minutes, minute)
        } else {
            true
        };
        if resolve_now {
            let mut resolved = instance.resolved(now, "engine");
            if let Some(value) = observation.value {
                resolved.value = Some(value);
            }
            let notifications = effects.notifications(rule, &resolved, NotificationEvent::Resolved);
            step.resolved = Some(Resolution {
                instance_id: instance.id.clone(),
                rule_id: rule.id.clone(),
                fingerprint: observation.fingerprint.clone(),
                at: now,
                by: "engine".into(),
                notifications,
            });
            state.pending_since = None;
            state.cleared_since = None;
            state.last_resolved_at = Some(now);
            step.row = if spec.cooldown_minutes > 0 {
                Row::Put(state)
            } else {
                Row::Delete
            };
            return step;
        }
        step.open = true;
        let repeat = minutes(spec.repeat_minutes, minute);
        if instance.state == InstanceState::Firing
            && repeat > 0
            && now.0 - instance.last_notified_at.0 >= repeat
        {
            let mut again = instance.clone();
            if let Some(value) = observation.value {
                again.value = Some(value);
            }
            again.last_notified_at = now;
            let notifications = effects.notifications(rule, &again, NotificationEvent::Firing);
            step.renotified = Some((instance.id.clone(), notifications));
        }
        state.pending_since = None;
        step.row = Row::Put(state);
        return step;
    }
    if observation.holds {
        let since = *state.pending_since.get_or_insert(now);
        let cooling = state
            .last_resolved_at
            .is_some_and(|at| now.0 - at.0 < minutes(spec.cooldown_minutes, minute));
        if now.0 - since.0 >= minutes(spec.for_minutes, minute) && !cooling {
            let labels = instance_labels(rule, &observation.labels);
            let instance = AlertInstance {
                id: effects.new_id(),
                rule_id: rule.id.clone(),
                rule_name: spec.name.clone(),
                severity: spec.severity,
                fingerprint: observation.fingerprint.clone(),
                labels,
                state: InstanceState::Firing,
                message: message(rule, observation.value),
                value: observation.value,
                threshold: spec.threshold,
                started_at: now,
                acknowledged_at: None,
                acknowledged_by: None,
                resolved_at: None,
                resolved_by: None,
                last_notified_at: now,
            };
            let notifications = effects.notifications(rule, &instance, NotificationEvent::Firing);
            step.fired = Some((instance, notifications));
            step.open = true;
            state.pending_since = None;
            state.cleared_since = None;
        } else {
            step.pending = true;
        }
        step.row = Row::Put(state);
        return step;
    }
    state.pending_since = None;
    state.cleared_since = None;
    let cooling = state
        .last_resolved_at
        .is_some_and(|at| now.0 - at.0 < minutes(spec.cooldown_minutes, minute));
    step.row = if cooling {
        Row::Put(state)
    } else {
        Row::Delete
    };
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::alert::{
        AlertSeverity, Channel, ChannelKind, Condition, DeliveryStatus, RuleSpec,
    };

    const T0: i64 = 1_764_000_000_000_000_000;
    const MINUTE_NANOS: i64 = 60_000_000_000;

    fn at(minute: i64) -> UnixNanos {
        UnixNanos(T0 + minute * MINUTE_NANOS)
    }

    fn rule(configure: impl FnOnce(&mut RuleSpec)) -> AlertRule {
        let mut spec = RuleSpec {
            name: "errors".into(),
            description: String::new(),
            kind: RuleKind::ErrorRate,
            service: Some("checkout".into()),
            operation: None,
            query: None,
            metric: None,
            percentile: None,
            condition: Condition::Gt,
            threshold: 0.05,
            recovery_threshold: None,
            window_minutes: 5,
            for_minutes: 0,
            keep_firing_minutes: 0,
            no_data: NoData::Ok,
            severity: AlertSeverity::Critical,
            cooldown_minutes: 0,
            repeat_minutes: 0,
            enabled: true,
            labels: AlertLabels::new(),
            channels: vec![Channel {
                kind: ChannelKind::Webhook,
                url: "http://127.0.0.1:9/".into(),
                secret: None,
            }],
        };
        configure(&mut spec);
        AlertRule {
            id: "r1".into(),
            spec,
            state: RuleState::Ok,
            last_value: None,
            last_error: None,
            last_evaluated_at: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    #[derive(Default)]
    struct Recorder {
        next: u32,
    }

    impl Effects for Recorder {
        fn new_id(&mut self) -> String {
            self.next += 1;
            format!("i{}", self.next)
        }
        fn notifications(
            &mut self,
            rule: &AlertRule,
            instance: &AlertInstance,
            event: NotificationEvent,
        ) -> Vec<Notification> {
            rule.spec
                .channels
                .iter()
                .map(|channel| Notification {
                    id: format!("n-{}-{}", instance.id, event.as_str()),
                    instance_id: instance.id.clone(),
                    channel: channel.clone(),
                    event,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    last_error: None,
                    payload: String::new(),
                    created_at: instance.last_notified_at,
                    next_attempt_at: instance.last_notified_at,
                    delivered_at: None,
                    retried_at: None,
                })
                .collect()
        }
    }

    /// Runs evaluations minute by minute, applying each outcome to the
    /// in-memory "store" as the writer would; returns the rule states.
    struct Sim {
        rule: AlertRule,
        series: HashMap<String, SeriesState>,
        open: HashMap<String, AlertInstance>,
        effects: Recorder,
        fired: usize,
        resolved: usize,
        notified: usize,
    }

    impl Sim {
        fn new(rule: AlertRule) -> Sim {
            Sim {
                rule,
                series: HashMap::new(),
                open: HashMap::new(),
                effects: Recorder::default(),
                fired: 0,
                resolved: 0,
                notified: 0,
            }
        }

        fn step(&mut self, minute: i64, values: Vec<SeriesValue>) -> RuleState {
            let evaluation = transition(
                &self.rule,
                Ok(values),
                &self.series,
                &self.open,
                (at(minute), MINUTE_NANOS),
                &mut self.effects,
            );
            self.apply(evaluation)
        }

        fn apply(&mut self, evaluation: RuleEvaluation) -> RuleState {
            for state in evaluation.put_series {
                self.series.insert(state.fingerprint.clone(), state);
            }
            for fingerprint in evaluation.delete_series {
                self.series.remove(&fingerprint);
            }
            for (instance, notifications) in evaluation.fired {
                self.fired += 1;
                self.notified += notifications.len();
                self.open.insert(instance.fingerprint.clone(), instance);
            }
            for resolution in evaluation.resolved {
                self.resolved += 1;
                self.notified += resolution.notifications.len();
                self.open.remove(&resolution.fingerprint);
                if let Some(series) = self.series.get_mut(&resolution.fingerprint) {
                    series.last_resolved_at = Some(resolution.at);
                }
            }
            for (id, notifications) in evaluation.renotified {
                self.notified += notifications.len();
                for instance in self.open.values_mut() {
                    if instance.id == id {
                        instance.last_notified_at = evaluation.evaluated_at;
                    }
                }
            }
            evaluation.state
        }
    }

    fn one(value: Option<f64>) -> Vec<SeriesValue> {
        vec![SeriesValue {
            fingerprint: String::new(),
            labels: AlertLabels::new(),
            value,
        }]
    }

    #[test]
    fn fires_at_once_without_for_and_resolves_when_clear() {
        let mut sim = Sim::new(rule(|_| {}));
        assert_eq!(sim.step(0, one(Some(0.01))), RuleState::Ok);
        assert_eq!(sim.step(1, one(Some(0.2))), RuleState::Firing);
        assert_eq!((sim.fired, sim.notified), (1, 1));
        let instance = sim.open.values().next().expect("open");
        assert_eq!(
            instance.labels.get("service").map(String::as_str),
            Some("checkout")
        );
        assert_eq!(
            instance.labels.get("severity").map(String::as_str),
            Some("critical")
        );
        assert!(instance.message.contains("20.00 %"), "{}", instance.message);
        assert_eq!(sim.step(2, one(Some(0.3))), RuleState::Firing);
        assert_eq!(sim.fired, 1, "no second instance while firing");
        assert_eq!(sim.step(3, one(Some(0.0))), RuleState::Ok);
        assert_eq!((sim.resolved, sim.notified), (1, 2));
        assert!(
            sim.series.is_empty(),
            "nothing to remember without a cooldown"
        );
    }

    #[test]
    fn pending_for_the_for_period_then_firing() {
        let mut sim = Sim::new(rule(|spec| spec.for_minutes = 2));
        assert_eq!(sim.step(0, one(Some(0.2))), RuleState::Pending);
        assert_eq!(sim.step(1, one(Some(0.2))), RuleState::Pending);
        assert_eq!(sim.step(2, one(Some(0.2))), RuleState::Firing);
        assert_eq!(sim.fired, 1);
        // A dip resets the pending clock.
        let mut sim = Sim::new(rule(|spec| spec.for_minutes = 2));
        sim.step(0, one(Some(0.2)));
        assert_eq!(sim.step(1, one(Some(0.0))), RuleState::Ok);
        assert_eq!(sim.step(2, one(Some(0.2))), RuleState::Pending);
        assert_eq!(sim.step(3, one(Some(0.2))), RuleState::Pending);
        assert_eq!(sim.step(4, one(Some(0.2))), RuleState::Firing);
    }

    #[test]
    fn keep_firing_holds_an_instance_after_the_condition_clears() {
        let mut sim = Sim::new(rule(|spec| spec.keep_firing_minutes = 2));
        sim.step(0, one(Some(0.2)));
        assert_eq!(sim.step(1, one(Some(0.0))), RuleState::Firing);
        assert_eq!(sim.step(2, one(Some(0.0))), RuleState::Firing);
        assert_eq!(sim.step(3, one(Some(0.0))), RuleState::Ok);
        assert_eq!(sim.resolved, 1);
        // Coming back within the period cancels the countdown.
        let mut sim = Sim::new(rule(|spec| spec.keep_firing_minutes = 2));
        sim.step(0, one(Some(0.2)));
        sim.step(1, one(Some(0.0)));
        sim.step(2, one(Some(0.2)));
        assert_eq!(sim.step(3, one(Some(0.0))), RuleState::Firing);
        assert_eq!(sim.step(4, one(Some(0.0))), RuleState::Firing);
        assert_eq!(sim.step(5, one(Some(0.0))), RuleState::Ok);
        assert_eq!((sim.fired, sim.resolved), (1, 1));
    }

    #[test]
    fn a_recovery_threshold_resolves_only_below_it() {
        let mut sim = Sim::new(rule(|spec| spec.recovery_threshold = Some(0.02)));
        sim.step(0, one(Some(0.2)));
        assert_eq!(
            sim.step(1, one(Some(0.04))),
            RuleState::Firing,
            "below the threshold, above recovery"
        );
        assert_eq!(sim.step(2, one(Some(0.02))), RuleState::Ok);
        assert_eq!(sim.resolved, 1);
    }

    #[test]
    fn no_data_follows_the_rule() {
        let mut ok = Sim::new(rule(|_| {}));
        ok.step(0, one(Some(0.2)));
        assert_eq!(ok.step(1, one(None)), RuleState::NoData);
        assert_eq!(ok.resolved, 1, "no data counts as clear");

        let mut keep = Sim::new(rule(|spec| spec.no_data = NoData::Keep));
        keep.step(0, one(Some(0.2)));
        assert_eq!(keep.step(1, one(None)), RuleState::Firing);
        assert_eq!(keep.step(2, one(None)), RuleState::Firing);
        assert_eq!(keep.resolved, 0);

        let mut firing = Sim::new(rule(|spec| spec.no_data = NoData::Firing));
        assert_eq!(firing.step(0, one(None)), RuleState::Firing);
        let instance = firing.open.values().next().expect("open");
        assert!(instance.message.contains("no data"), "{}", instance.message);
        assert_eq!(firing.step(1, one(Some(0.0))), RuleState::Ok);
    }

    #[test]
    fn cooldown_delays_a_new_instance_after_a_resolution() {
        let mut sim = Sim::new(rule(|spec| spec.cooldown_minutes = 3));
        sim.step(0, one(Some(0.2)));
        sim.step(1, one(Some(0.0)));
        assert_eq!(
            sim.step(2, one(Some(0.2))),
            RuleState::Pending,
            "cooling down"
        );
        assert_eq!(sim.step(3, one(Some(0.2))), RuleState::Pending);
        assert_eq!(sim.step(4, one(Some(0.2))), RuleState::Firing);
        assert_eq!(sim.fired, 2);
    }

    #[test]
    fn repeat_renotifies_a_firing_instance_but_not_an_acknowledged_one() {
        let mut sim = Sim::new(rule(|spec| spec.repeat_minutes = 2));
        sim.step(0, one(Some(0.2)));
        sim.step(1, one(Some(0.2)));
        assert_eq!(sim.notified, 1);
        sim.step(2, one(Some(0.2)));
        assert_eq!(sim.notified, 2, "repeated after two minutes");
        sim.step(3, one(Some(0.2)));
        assert_eq!(sim.notified, 2);
        for instance in sim.open.values_mut() {
            instance.state = InstanceState::Acknowledged;
        }
        sim.step(6, one(Some(0.2)));
        assert_eq!(sim.notified, 2, "acknowledged: no repeat");
        sim.step(7, one(Some(0.0)));
        assert_eq!(sim.notified, 3, "its resolution is still announced");
    }

    #[test]
    fn promql_series_fire_and_resolve_one_by_one() {
        let series = |pairs: &[(&str, f64)]| -> Vec<SeriesValue> {
            pairs
                .iter()
                .map(|(pod, value)| {
                    let labels: AlertLabels = [("pod".to_string(), pod.to_string())].into();
                    SeriesValue {
                        fingerprint: super::super::evaluate::fingerprint(&labels),
                        labels,
                        value: Some(*value),
                    }
                })
                .collect()
        };
        let mut sim = Sim::new(rule(|spec| {
            spec.kind = RuleKind::Promql;
            spec.service = None;
            spec.threshold = 10.0;
        }));
        assert_eq!(
            sim.step(0, series(&[("a", 20.0), ("b", 30.0)])),
            RuleState::Firing
        );
        assert_eq!(sim.fired, 2);
        let pods: Vec<&str> = sim
            .open
            .values()
            .filter_map(|instance| instance.labels.get("pod").map(String::as_str))
            .collect();
        assert_eq!(pods.len(), 2);
        // b's series disappears: its instance resolves; a stays.
        assert_eq!(sim.step(1, series(&[("a", 20.0)])), RuleState::Firing);
        assert_eq!(sim.resolved, 1);
        // The query returns nothing: no data, `ok` resolves the rest.
        assert_eq!(sim.step(2, Vec::new()), RuleState::NoData);
        assert_eq!(sim.resolved, 2);
    }

    #[test]
    fn an_error_changes_nothing_but_the_rule() {
        let mut sim = Sim::new(rule(|_| {}));
        sim.step(0, one(Some(0.2)));
        let evaluation = transition(
            &sim.rule,
            Err("the read failed".into()),
            &sim.series,
            &sim.open,
            (at(1), MINUTE_NANOS),
            &mut sim.effects,
        );
        assert_eq!(evaluation.state, RuleState::Error);
        assert_eq!(evaluation.last_error.as_deref(), Some("the read failed"));
        assert!(evaluation.resolved.is_empty() && evaluation.fired.is_empty());
    }
}
