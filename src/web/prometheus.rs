//! The Prometheus-compatible HTTP API under `/prometheus/api/v1/`, in
//! Prometheus's JSON format, so that Grafana's Prometheus data source,
//! Jaeger's Monitor tab and other PromQL clients read lookout directly.
//! Parameters come from the query string and, for POST, a form body.

use actix_web::{web, HttpRequest, HttpResponse};

use super::dto::prometheus as dto;
use super::error::PromError;
use super::{read, AppState};
use crate::model::metric::Labels;
use crate::query::metrics::{parse_duration, parse_selector, parse_time, selectors_of};
use crate::query::promql::{EngineOptions, PromqlError};
use crate::query::QueryError;

/// The PromQL dialect served: Prometheus 2.42's, which the comparison
/// tests check answers against.
pub const PROMETHEUS_VERSION: &str = "2.42.0";

/// The request's parameters, query string and form body together.
struct Params(Vec<(String, String)>);

impl Params {
    fn from_request(request: &HttpRequest, body: &[u8]) -> Result<Params, PromError> {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(request.query_string())
                .map_err(|error| PromError::bad_data(format!("invalid query string: {error}")))?;
        let is_form = request
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        if is_form && !body.is_empty() {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|error| PromError::bad_data(format!("invalid form body: {error}")))?;
            pairs.extend(form);
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `start`/`end` as unix ms; all of time when absent, as Prometheus.
    fn range(&self) -> Result<(i64, i64), PromError> {
        let start = match self.get("start") {
            Some(text) => parse_time("start", text)?,
            None => i64::MIN / 2,
        };
        let end = match self.get("end") {
            Some(text) => parse_time("end", text)?,
            None => i64::MAX / 2,
        };
        if end < start {
            return Err(PromError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        Ok((start, end))
    }
}

/// The longest PromQL expression taken (the same for `match[]`).
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Stack of the thread a PromQL expression is parsed and evaluated on: the
/// parser's tree and the evaluator recurse once per nesting level, and an
/// expression of `MAX_QUERY_BYTES` can nest about that deep.
const QUERY_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Refuses expressions longer than `MAX_QUERY_BYTES`.
fn check_length(parameter: &str, text: &str) -> Result<(), PromError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(PromError::bad_data(format!(
            "invalid parameter \"{parameter}\": longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Runs `work` on a thread of its own with a stack deep enough for any
/// expression within the length limit (a deeply nested query must not
/// overflow a worker's stack and abort the process).
async fn on_query_thread<T: Send + 'static>(
    state: &web::Data<AppState>,
    work: impl FnOnce(&crate::query::ReadSide) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, PromError> {
    let read = std::sync::Arc::clone(&state.read);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("promql".into())
        .stack_size(QUERY_STACK_BYTES)
        .spawn(move || {
            let _ = sender.send(work(&read));
        })
        .map_err(|error| {
            PromError::from(super::error::ApiError::Internal(format!(
                "cannot start a query thread: {error}"
            )))
        })?;
    match receiver.await {
        Ok(result) => result.map_err(promql_error),
        Err(_) => Err(PromError::from(super::error::ApiError::Internal(
            "the query thread ended without an answer".into(),
        ))),
    }
}

/// Prometheus's cap on the points of one series in a range query.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// A PromQL failure as Prometheus words it: the parser's message under the
/// `query` parameter.
fn promql_error(error: QueryError) -> PromError {
    match error {
        QueryError::Promql(PromqlError::Parse(message)) => {
            PromError::bad_data(format!("invalid parameter \"query\": {message}"))
        }
        other => PromError::from(other),
    }
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, PromError> {
    params
        .get(name)
        .ok_or_else(|| PromError::bad_data(format!("invalid parameter \"{name}\": missing")))
}

fn now_ms() -> i64 {
    crate::model::UnixNanos::now().0 / 1_000_000
}

/// `GET|POST /query`: an instant query at `time` (default now).
pub async fn query(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    let query = params.get("query").unwrap_or("").to_string();
    let time = match params.get("time") {
        Some(text) => parse_time("time", text)?,
        None => now_ms(),
    };
    check_length("query", &query)?;
    let value = on_query_thread(&state, move |read| {
        read.promql_instant(&query, time, &EngineOptions::default())
    })
    .await?;
    Ok(HttpResponse::Ok().json(dto::success(dto::query_result(value))))
}

/// `GET|POST /query_range`.
pub async fn query_range(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    let query = params.get("query").unwrap_or("").to_string();
    let start = parse_time("start", required(&params, "start")?)?;
    let end = parse_time("end", required(&params, "end")?)?;
    let step = parse_duration("step", required(&params, "step")?)?;
    if end < start {
        return Err(PromError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(PromError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(PromError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    check_length("query", &query)?;
    let value = on_query_thread(&state, move |read| {
        read.promql_range(&query, (start, end, step), &EngineOptions::default())
    })
    .await?;
    Ok(HttpResponse::Ok().json(dto::success(dto::query_result(value))))
}

/// `GET|POST /query_exemplars`: exemplars of the series the query reads.
pub async fn query_exemplars(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    let query = params.get("query").unwrap_or("").to_string();
    check_length("query", &query)?;
    let (start, end) = params.range()?;
    let found = on_query_thread(&state, move |reads| {
        let sets = selectors_of(&query)?;
        let mut all = Vec::new();
        for matchers in &sets {
            all.extend(reads.metric_exemplars(matchers, start, end, MAX_EXEMPLARS)?);
        }
        Ok(all)
    })
    .await?;
    Ok(HttpResponse::Ok().json(dto::success(dto::exemplars(found))))
}

/// Exemplars answered per selector.
const MAX_EXEMPLARS: usize = 10_000;

/// Series label sets for `match[]` over the range.
async fn matching_labels(
    state: &web::Data<AppState>,
    params: &Params,
) -> Result<Vec<Labels>, PromError> {
    let selectors: Vec<String> = params.all("match[]").map(str::to_string).collect();
    for selector in &selectors {
        check_length("match[]", selector)?;
    }
    let (start, end) = params.range()?;
    on_query_thread(state, move |reads| {
        let mut sets = Vec::new();
        for text in &selectors {
            sets.extend(parse_selector(text)?);
        }
        reads.metric_series(&sets, start, end)
    })
    .await
}

/// `GET|POST /labels`: label names of the matching series.
pub async fn labels(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    let series = matching_labels(&state, &params).await?;
    let mut names: Vec<String> = series
        .iter()
        .flat_map(|labels| labels.iter().map(|(name, _)| name.to_string()))
        .collect();
    names.sort();
    names.dedup();
    Ok(HttpResponse::Ok().json(dto::success(names)))
}

/// `GET /label/{name}/values`.
pub async fn label_values(
    request: HttpRequest,
    body: web::Bytes,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let name = path.into_inner();
    let params = Params::from_request(&request, &body)?;
    let series = matching_labels(&state, &params).await?;
    let mut values: Vec<String> = series
        .iter()
        .filter_map(|labels| labels.get(&name).map(str::to_string))
        .collect();
    values.sort();
    values.dedup();
    Ok(HttpResponse::Ok().json(dto::success(values)))
}

/// `GET|POST /series`: the label sets of the matching series.
pub async fn series(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    if params.all("match[]").next().is_none() {
        return Err(PromError::bad_data("no match[] parameter provided"));
    }
    let series = matching_labels(&state, &params).await?;
    let data: Vec<_> = series.iter().map(dto::labels).collect();
    Ok(HttpResponse::Ok().json(dto::success(data)))
}

/// `GET /metadata`: type, help and unit per metric family.
pub async fn metadata(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PromError> {
    let params = Params::from_request(&request, &body)?;
    let limit =
        match params.get("limit") {
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                PromError::bad_data(format!("invalid parameter \"limit\": {text:?}"))
            })?),
            None => None,
        };
    let metric = params.get("metric").map(str::to_string);
    let families = read(&state, |reads| reads.metric_families()).await?;
    let families = families
        .into_iter()
        .filter(|family| metric.as_deref().is_none_or(|wanted| family.name == wanted))
        .take(limit.unwrap_or(usize::MAX));
    Ok(HttpResponse::Ok().json(dto::success(dto::metadata(families))))
}

/// `GET /status/buildinfo`: what Grafana asks to learn the dialect.
pub async fn buildinfo() -> HttpResponse {
    HttpResponse::Ok().json(dto::success(dto::BuildInfo {
        version: PROMETHEUS_VERSION,
        revision: concat!("lookout ", env!("CARGO_PKG_VERSION")),
        branch: "",
        build_user: "",
        build_date: "",
        go_version: "",
    }))
}

/// `GET /api/metrics/names`: every metric family with its series count.
pub async fn metric_names(
    state: web::Data<AppState>,
) -> Result<HttpResponse, super::error::ApiError> {
    let families = read(&state, |reads| reads.metric_families()).await?;
    Ok(HttpResponse::Ok().json(dto::MetricNamesDto::new(families)))
}

/// Any other path under the API: Prometheus's error shape, 404.
pub async fn not_found() -> Result<HttpResponse, PromError> {
    Err(PromError::from(super::error::ApiError::NotFound(
        "no such endpoint of the Prometheus API".into(),
    )))
}
