//! The `lookout` command: parses the command line and runs a subcommand.

use std::process::ExitCode;

use lookout::app::App;
use lookout::config::{parse_args, resolve_data_dir, unknown_env_vars, Config, Invocation};
use lookout::telemetry::init_tracing;

fn main() -> ExitCode {
    let (options, demo) = match parse_args() {
        Ok(Invocation::Serve { options, demo }) => (options, demo),
        // Check reads the data directory only: serve's listen and auth
        // rules (e.g. LOOKOUT_LISTEN=0.0.0.0:4318 without a token) do not
        // apply to it.
        Ok(Invocation::Check(options)) => {
            return match resolve_data_dir(&options) {
                Ok(data_dir) => check(&data_dir),
                Err(error) => {
                    eprintln!("lookout: {error}");
                    ExitCode::from(2)
                }
            };
        }
        Ok(Invocation::SetPassword(options)) => {
            return match resolve_data_dir(&options) {
                Ok(data_dir) => set_password(&data_dir),
                Err(error) => {
                    eprintln!("lookout: {error}");
                    ExitCode::from(2)
                }
            };
        }
        Ok(Invocation::Backup { options, dir }) => {
            return match resolve_data_dir(&options) {
                Ok(data_dir) => backup(&data_dir, &dir),
                Err(error) => {
                    eprintln!("lookout: {error}");
                    ExitCode::from(2)
                }
            };
        }
        Ok(Invocation::Restore {
            options,
            dir,
            force,
        }) => {
            return match resolve_data_dir(&options) {
                Ok(data_dir) => restore(&data_dir, &dir, force),
                Err(error) => {
                    eprintln!("lookout: {error}");
                    ExitCode::from(2)
                }
            };
        }
        Err(error) => {
            eprintln!("lookout: {error}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::resolve(&options) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("lookout: {error}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format, &config.log_level);
    for name in unknown_env_vars() {
        tracing::warn!(name, "ignoring unknown LOOKOUT_* environment variable");
    }
    serve(config, demo)
}

fn serve(config: Config, demo: bool) -> ExitCode {
    let token = config
        .admin_token
        .clone()
        .or_else(|| config.api_keys.first().cloned());
    let app = match App::build(config) {
        Ok(app) => app,
        Err(error) => {
            tracing::error!("cannot start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_demo, demo_stop) = crossbeam_channel::bounded::<()>(1);
    let demo_thread = if demo {
        match lookout::demo::spawn(app.local_addr(), token, demo_stop) {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::error!(%error, "cannot start the demo traffic");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let result = actix_web::rt::System::new().block_on(app.serve(true, |_| {}));
    drop(stop_demo);
    if let Some(thread) = demo_thread {
        let _ = thread.join();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("lookout failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn set_password(data_dir: &std::path::Path) -> ExitCode {
    let result = lookout::admin::read_new_password()
        .and_then(|password| lookout::admin::set_password(data_dir, &password));
    match result {
        Ok(()) => {
            println!(
                "the admin password of {} is set; every login session has ended",
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lookout admin set-password: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(data_dir: &std::path::Path) -> ExitCode {
    match lookout::check::check_data_dir(data_dir) {
        Ok(report) => {
            println!(
                "schema version {}, {} traces, {} spans ({} packed), {} trace block filters, {} log records in {} day indexes, {} journal rows waiting",
                report.schema_version,
                report.traces,
                report.spans,
                report.packed_spans,
                report.trace_blocks,
                report.log_records,
                report.log_days,
                report.journal_rows
            );
            if report.problems.is_empty() {
                println!("ok");
                ExitCode::SUCCESS
            } else {
                for problem in &report.problems {
                    println!("problem: {problem}");
                }
                ExitCode::FAILURE
            }
        }
        // 2: the directory could not be read at all (1 means problems found).
        Err(error) => {
            eprintln!("lookout check: {error}");
            ExitCode::from(2)
        }
    }
}

fn backup(data_dir: &std::path::Path, dest: &std::path::Path) -> ExitCode {
    match lookout::backup::backup(data_dir, dest) {
        Ok(outcome) => {
            let by = if outcome.through_server {
                " by the running server"
            } else {
                ""
            };
            println!(
                "backup of {} written to {}{by}: {outcome}",
                data_dir.display(),
                dest.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lookout backup: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn restore(data_dir: &std::path::Path, from: &std::path::Path, force: bool) -> ExitCode {
    match lookout::backup::restore(data_dir, from, force) {
        Ok(outcome) => {
            println!(
                "restored {} into {}: {outcome}",
                from.display(),
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lookout restore: {error:#}");
            ExitCode::FAILURE
        }
    }
}
