//! The console's commands: one line in, one answer out (text ending with a blank line,
//! or one JSON document with `--json`).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::Views;

/// An answer, and whether the session ends after it.
pub(super) struct Reply {
    pub(super) text: String,
    pub(super) quit: bool,
}

const HELP: &str = "\
help                 this list
services             each service: name, state, started at
tasks                each periodic task: spacing in force (and the options it comes from), runs, failures, skipped (cluster tasks another host ran), last duration and error, next due
workers              (in a parent of workers) each worker: service, index, pid, generation, started at, restarts, ready
conf                 every option with its value and where it was set (secrets, and passwords inside values, as ****)
runtime              tokio workers, alive tasks, queue depth; process RSS, open fds, uptime
loglevel [FILTER]    show the log filter, or set it (such as debug, or info,oslo::wsgi::access=warn) until the next reload
run TASK             run a periodic task (TASK or SERVICE.TASK) once, now
quit                 end the session
Add --json to any command for one JSON document.";

/// Answers one command line from the client `peer` (who it is, for the log).
pub(super) async fn answer(line: &str, views: &Views, peer: &str) -> Reply {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let json = words.contains(&"--json");
    words.retain(|w| *w != "--json");
    let (command, args) = match words.split_first() {
        Some((command, args)) => (*command, args),
        None => ("", &[][..]),
    };
    if !command.is_empty() {
        tracing::debug!(command = %line.trim(), peer = %peer, "debug console command");
    }
    let outcome: Result<(String, Value), String> = match command {
        "" => Ok((String::new(), Value::Null)),
        "help" => Ok((
            HELP.to_owned(),
            json!({ "commands": HELP.lines().collect::<Vec<_>>() }),
        )),
        "services" => Ok(services(views)),
        "tasks" => Ok(tasks(views)),
        "workers" => workers(views),
        "conf" => Ok(conf(views)),
        "runtime" => Ok(runtime()),
        "loglevel" => loglevel(args, peer),
        "run" => run(views, args).await,
        "quit" | "exit" => {
            return Reply {
                text: if json {
                    "{\"bye\": true}\n".to_owned()
                } else {
                    "bye\n".to_owned()
                },
                quit: true,
            };
        }
        other => Err(format!("unknown command '{other}'; try help")),
    };
    let text = match (outcome, json) {
        (Ok((_, value)), true) => format!("{value}\n"),
        (Ok((text, _)), false) if text.is_empty() => String::new(),
        (Ok((text, _)), false) => format!("{}\n", text.trim_end()),
        (Err(error), true) => format!("{}\n", json!({ "error": error })),
        (Err(error), false) => format!("error: {error}\n"),
    };
    Reply { text, quit: false }
}

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

fn services(views: &Views) -> (String, Value) {
    let services = views.services();
    let mut text = String::new();
    let mut list = Vec::new();
    for service in &services {
        let state = if service.cx.is_stopping() {
            "stopping"
        } else {
            "running"
        };
        let name = service.cx.service_name();
        text.push_str(&format!(
            "{name} state={state} started_at={}\n",
            time(service.started_at)
        ));
        list.push(json!({
            "name": name,
            "state": state,
            "started_at": time(service.started_at),
            "configuration_generation": views.conf.generation(),
            "last_reload_refused": views.conf.last_refused_reload(),
        }));
    }
    if services.is_empty() {
        text.push_str("no service runs in this process\n");
    }
    text.push_str(&configuration_line(views));
    (text, Value::Array(list))
}

/// The configuration in force: how many reloads were accepted, and why the last one
/// was refused, until one is accepted.
fn configuration_line(views: &Views) -> String {
    let refused = views
        .conf
        .last_refused_reload()
        .map_or_else(|| "-".to_owned(), |reason| format!("{reason:?}"));
    format!(
        "configuration generation={} last_reload_refused={refused}\n",
        views.conf.generation()
    )
}

fn tasks(views: &Views) -> (String, Value) {
    let now = tokio::time::Instant::now();
    let mut text = String::new();
    let mut list = Vec::new();
    for service in views.services() {
        let name = service.cx.service_name().to_owned();
        for task in service.cx.periodic_task_stats() {
            let duration = task
                .last_duration
                .map(|d| format!("{:.6}", d.as_secs_f64()));
            let due = task
                .next_due
                .map(|at| at.saturating_duration_since(now).as_secs_f64());
            // The spacing in force, and the options it and the switch come from.
            let spacing = task.spacing.map_or_else(
                || "off".to_owned(),
                |every| humantime::format_duration(every).to_string(),
            );
            let mut from = String::new();
            for (what, option) in [
                ("spacing_from", &task.spacing_from),
                ("enabled_from", &task.enabled_from),
            ] {
                if let Some(option) = option {
                    from.push_str(&format!(" {what}={option}"));
                }
            }
            text.push_str(&format!(
                "{name}.{} spacing={spacing}{from} runs={} failures={} skipped={} last_duration={} last_error={} next_due_in={}\n",
                task.name,
                task.runs,
                task.failures,
                task.skipped,
                duration.as_deref().unwrap_or("-"),
                task.last_error.as_deref().unwrap_or("-"),
                due.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}s")),
            ));
            list.push(json!({
                "service": name,
                "task": task.name,
                "spacing_seconds": task.spacing.map(|every| every.as_secs_f64()),
                "spacing_from": task.spacing_from,
                "enabled_from": task.enabled_from,
                "runs": task.runs,
                "failures": task.failures,
                "skipped": task.skipped,
                "last_duration_seconds": task.last_duration.map(|d| d.as_secs_f64()),
                "last_error": task.last_error,
                "next_due_in_seconds": due,
            }));
        }
    }
    if list.is_empty() {
        text.push_str("no periodic task runs in this process\n");
    }
    (text, Value::Array(list))
}

fn workers(views: &Views) -> Result<(String, Value), String> {
    let workers = views
        .workers()
        .ok_or_else(|| "this process has no workers (ask their parent)".to_owned())?;
    let mut text = String::new();
    let mut list = Vec::new();
    for worker in &workers {
        text.push_str(&format!(
            "{} worker={} pid={} generation={} started_at={} restarts={} ready={} last_answer={}\n",
            worker.service,
            worker.index,
            worker.pid,
            worker.generation,
            time(worker.started_at),
            worker.restarts,
            worker.ready,
            worker.last_answer.map_or_else(|| "-".to_owned(), time),
        ));
        list.push(json!({
            "service": worker.service,
            "index": worker.index,
            "pid": worker.pid,
            "generation": worker.generation,
            "started_at": time(worker.started_at),
            "restarts": worker.restarts,
            "ready": worker.ready,
            "last_answer": worker.last_answer.map(time),
            "configuration_generation": views.conf.generation(),
            "last_reload_refused": views.conf.last_refused_reload(),
        }));
    }
    text.push_str(&configuration_line(views));
    Ok((text, Value::Array(list)))
}

fn conf(views: &Views) -> (String, Value) {
    let snapshot = views.conf.snapshot();
    // Every option the files set, declared or not (a nova.conf holds hundreds that no
    // group of the program declares): whatever looks like a secret is masked.
    let masker = views.conf.masker(&snapshot);
    let mut text = String::new();
    let mut list = Vec::new();
    for (group, option, values) in snapshot.iter() {
        let secret = views.conf.is_secret(group, option);
        for value in values {
            let shown = masker.show(secret, &value.text);
            let source = match &value.file {
                Some(file) => format!("{}:{}", file.display(), value.line),
                None => "-".to_owned(),
            };
            text.push_str(&format!("[{group}] {option} = {shown}  ({source})\n"));
            list.push(
                json!({ "group": group, "option": option, "value": shown, "source": source }),
            );
        }
    }
    if list.is_empty() {
        text.push_str("every option has its default\n");
    }
    (text, Value::Array(list))
}

fn runtime() -> (String, Value) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let (workers, alive, queued) = (
        metrics.num_workers(),
        metrics.num_alive_tasks(),
        metrics.global_queue_depth(),
    );
    let rss = rss_bytes();
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    let uptime = uptime();
    let text = format!(
        "tokio_workers={workers} alive_tasks={alive} global_queue_depth={queued}\n\
         pid={} rss_bytes={} open_fds={fds} uptime_seconds={:.1}\n",
        std::process::id(),
        rss.map_or_else(|| "-".to_owned(), |r| r.to_string()),
        uptime.map_or(0.0, |u| u.as_secs_f64()),
    );
    let value = json!({
        "tokio_workers": workers,
        "alive_tasks": alive,
        "global_queue_depth": queued,
        "pid": std::process::id(),
        "rss_bytes": rss,
        "open_fds": fds,
        "uptime_seconds": uptime.map(|u| u.as_secs_f64()),
    });
    (text, value)
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Since the process started: /proc/uptime less the process's start time.
fn uptime() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    let start_ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let since_boot: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    Some(Duration::from_secs_f64(
        (since_boot - start_ticks as f64 / ticks).max(0.0),
    ))
}

fn loglevel(args: &[&str], peer: &str) -> Result<(String, Value), String> {
    if !args.is_empty() {
        let filter = args.join(",");
        crate::log::set_filter(&filter).map_err(|err| err.to_string())?;
        tracing::info!(%filter, peer = %peer, "log filter changed from the debug console");
    }
    let current = crate::log::current_filter().unwrap_or_else(|| "-".to_owned());
    Ok((format!("filter={current}\n"), json!({ "filter": current })))
}

async fn run(views: &Views, args: &[&str]) -> Result<(String, Value), String> {
    let [wanted] = args else {
        return Err("usage: run TASK (or SERVICE.TASK)".to_owned());
    };
    let (service_name, task) = match wanted.split_once('.') {
        Some((service, task)) => (Some(service), task),
        None => (None, *wanted),
    };
    let services = views.services();
    let owner = services.iter().find(|service| {
        service_name.is_none_or(|name| name == service.cx.service_name())
            && service
                .cx
                .periodic_task_stats()
                .iter()
                .any(|stats| stats.name == task)
    });
    let Some(owner) = owner else {
        return Err(format!("no periodic task named '{wanted}'"));
    };
    let full = format!("{}.{task}", owner.cx.service_name());
    owner
        .cx
        .run_periodic_task_now(task)
        .await
        .map_err(|err| format!("{full}: {err}"))?;
    Ok((format!("ran {full}\n"), json!({ "ran": full, "ok": true })))
}
