//! `workers`: one TCP port served by several worker processes.
//!
//! ```text
//! cargo run --bin workers -- --config-file examples/workers.conf
//! nc 127.0.0.1 <port>   # "worker=2 pid=4242 greeting=hello"
//! kill -HUP <pid>       # reload: a new set of workers, then the old ones stop
//! kill -TTIN <pid>      # one more worker; -TTOU one less
//! kill -TERM <pid>      # graceful stop of every worker
//! ```
//!
//! The parent binds the port (`[workers] port`, 0 for any free one) and logs
//! `listening address=127.0.0.1:<port>`; each of `[workers] count` workers inherits the
//! socket and answers every connection with one line: its worker index, its pid and
//! `[workers] greeting`, read at the time of the answer. `restart_method` (`reload` or
//! `mutate`) says what SIGHUP does; `fail_on_start` makes every worker fail to start
//! (a crash loop), `hang_on_stop` makes stop never return, and `grow_to` changes the
//! worker count at run time through [`oslo::LauncherHandle::set_workers`].

use oslo::prelude::*;
use tokio::io::AsyncWriteExt;

const GROUP: &str = "workers";

/// Answers each connection on the shared port.
#[oslo::service(name = "workers")]
struct Answer;

#[oslo::service]
impl Answer {
    async fn start(&self, cx: &Context) -> oslo::Result<()> {
        if cx.conf().get_or(GROUP, "fail_on_start", false)? {
            return Err(oslo::Error::msg("fail_on_start is set in [workers]"));
        }
        // The parent bound it; this is the same socket, inherited.
        let listener = oslo::net::listen(GROUP, address(cx.conf())?)?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        // The worker's log span carries its service, index and pid.
        tracing::info!("worker accepting");
        let serving = cx.clone();
        cx.spawn(async move {
            loop {
                tokio::select! {
                    () = serving.stopped() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            let cx = serving.clone();
                            serving.spawn(async move { answer(stream, &cx).await });
                        }
                        Err(err) => tracing::warn!(error = %err, "accept failed"),
                    },
                }
            }
        });
        Ok(())
    }

    async fn stop(&self, cx: &Context) -> oslo::Result<()> {
        tracing::info!("worker stopping");
        if cx.conf().get_or(GROUP, "hang_on_stop", false)? {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn reset(&self, cx: &Context) -> oslo::Result<()> {
        oslo::log::setup(cx.conf(), "workers")?;
        tracing::info!(greeting = %greeting(cx.conf())?, "worker reset");
        Ok(())
    }
}

/// One line per connection, then close.
async fn answer(mut stream: tokio::net::TcpStream, cx: &Context) {
    let line = match greeting(cx.conf()) {
        Ok(greeting) => format!(
            "worker={} pid={} greeting={greeting}\n",
            cx.worker().unwrap_or(0),
            std::process::id()
        ),
        Err(err) => format!("error={err}\n"),
    };
    if let Err(err) = stream.write_all(line.as_bytes()).await {
        tracing::debug!(error = %err, "client went away");
    }
    let _ = stream.shutdown().await;
}

fn greeting(conf: &oslo::Config) -> oslo::Result<String> {
    Ok(conf.get_or(GROUP, "greeting", "hello".to_owned())?)
}

fn address(conf: &oslo::Config) -> oslo::Result<(&'static str, u16)> {
    Ok(("127.0.0.1", conf.get_or(GROUP, "port", 0_u16)?))
}

#[oslo::main]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let count: usize = conf.get_or(GROUP, "count", 4)?;
    let restart_method = conf
        .get_or(GROUP, "restart_method", "reload".to_owned())?
        .parse()?;
    // Bound here, where the parent and every worker pass: the parent binds, each
    // worker gets the parent's socket back.
    let listener = oslo::net::listen(GROUP, address(&conf)?)?;
    if oslo::launcher::current_worker().is_none() {
        tracing::info!(address = %listener.local_addr()?, "listening");
    }
    drop(listener);
    if count == 1 {
        return oslo::ServiceLauncher::new(conf)
            .restart_method(restart_method)
            .launch_service(Answer)
            .run()
            .await;
    }
    let grow_to: Option<usize> = conf.get(GROUP, "grow_to")?;
    let launcher = oslo::ProcessLauncher::new(conf)
        .restart_method(restart_method)
        .launch_service(Answer, count);
    if let Some(workers) = grow_to {
        let handle = launcher.handle();
        tokio::spawn(async move {
            if let Err(err) = handle.set_workers("workers", workers) {
                tracing::error!(error = %err, "cannot change the worker count");
            }
        });
    }
    launcher.run().await
}
