//! Keep-alive clients that send `GET /v1/whoami` (the `api` example's) request after
//! request, reconnecting only when an answer says `Connection: close`: every request
//! without a full answer is a failure, every connection not accepted a refusal. Each
//! answer's worker pid and build are kept, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::http::Connection;

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(pid, build)` of every answer, in the order they came.
    pub answers: Vec<(u32, String)>,
    /// Requests that got no full answer (or not a 200).
    pub failures: Vec<String>,
    /// Connections refused or cut before a request could be sent.
    pub refused: Vec<String>,
}

impl Seen {
    /// Panics, saying what went wrong (and `context`), unless every request was answered
    /// and every connection accepted.
    pub fn assert_nothing_failed(&self, context: &str) {
        assert!(
            self.failures.is_empty() && self.refused.is_empty(),
            "{} failed, {} refused of {} answered: {:?} {:?}\n{context}",
            self.failures.len(),
            self.refused.len(),
            self.answers.len(),
            self.failures,
            self.refused,
        );
    }
}

/// The clients, running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let clients = (0..clients)
            .map(|_| {
                let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
                std::thread::spawn(move || client(port, &stop, &seen))
            })
            .collect();
        Load {
            stop,
            seen,
            clients,
        }
    }

    /// How many answers came so far.
    pub fn answered(&self) -> usize {
        self.seen.lock().unwrap().answers.len()
    }

    /// The builds of the last `n` answers.
    pub fn last_builds(&self, n: usize) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let from = seen.answers.len().saturating_sub(n);
        seen.answers[from..]
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn client(port: u16, stop: &AtomicBool, seen: &Mutex<Seen>) {
    let mut connection = None;
    while !stop.load(Ordering::Relaxed) {
        let client = match &mut connection {
            Some(client) => client,
            None => match Connection::open(port) {
                Ok(opened) => connection.insert(opened),
                Err(err) => {
                    seen.lock().unwrap().refused.push(err.to_string());
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
            },
        };
        match client.get("/v1/whoami", "") {
            Ok(answer) if answer.status == 200 => {
                let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
                let pid = json["pid"].as_u64().unwrap_or_default() as u32;
                let build = json["build"].as_str().unwrap_or_default().to_owned();
                seen.lock().unwrap().answers.push((pid, build));
                if answer.closes() {
                    connection = None;
                }
            }
            Ok(answer) => {
                let failure = format!("status {}", answer.status);
                seen.lock().unwrap().failures.push(failure);
                connection = None;
            }
            Err(err) => {
                seen.lock().unwrap().failures.push(err.to_string());
                connection = None;
            }
        }
    }
}
