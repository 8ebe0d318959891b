//! The shipped `bootstrap` (the `lambda` profile build `rekey synth`
//! packages) as Lambda runs it: started with the rotation function's
//! environment against a local Lambda Runtime API (a minimal one here: the
//! `next` / `response` / `error` routes `lambda_runtime` uses), with moto as
//! AWS. It measures the time from process start to the first event handled
//! (an empty SQS batch, so the figure is start-up alone), then each event's
//! handling time and the process's peak RSS after it, read from `/proc`
//! while the process waits for its next event.

use crate::measure::peak_rss_kib;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one event may take before the bench gives up.
const EVENT_TIMEOUT: Duration = Duration::from_secs(900);

/// One event handled by the process.
#[derive(Clone, Debug)]
pub struct Handled {
    /// What the event was.
    pub label: String,
    /// From handing the event out (or from process start, for the first) to its answer.
    pub seconds: f64,
    /// Peak RSS of the process after it, MiB.
    pub peak_rss_mib: Option<f64>,
    /// The answer (`response` or `error`) and its body.
    pub outcome: String,
}

/// A local Runtime API serving queued events to one function process.
struct RuntimeApi {
    port: u16,
    events: Sender<String>,
    answers: Receiver<String>,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
        let port = listener.local_addr().expect("local addr").port();
        let (events, next_events) = channel::<String>();
        let (answer_tx, answers) = channel::<String>();
        let next_events = Arc::new(Mutex::new(next_events));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (next_events, answer_tx) = (next_events.clone(), answer_tx.clone());
                std::thread::spawn(move || serve_connection(stream, &next_events, &answer_tx));
            }
        });
        RuntimeApi { port, events, answers }
    }
}

/// Serves HTTP/1.1 requests on one kept-alive connection until it closes.
fn serve_connection(stream: TcpStream, events: &Mutex<Receiver<String>>, answers: &Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    while let Some((method, path, body)) = read_request(&mut reader) {
        let reply = if method == "GET" && path.ends_with("/invocation/next") {
            let Ok(event) = events.lock().expect("events lock").recv() else { return };
            let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                + EVENT_TIMEOUT.as_millis();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: bench-{deadline}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: \
                 arn:aws:lambda:us-east-1:123456789012:function:rekey-bench\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\n\
                 Content-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let kind = if path.ends_with("/response") { "response" } else { "error" };
            let _ = answers.send(format!("{kind} {}", String::from_utf8_lossy(&body)));
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_string()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One request: method, path and body (Content-Length or chunked).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

/// Kills the function process when the measurement ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bootstrap` with `env` and hands it `events` in turn: the first
/// figure is from process start, the others from handing the event out.
pub fn run_events(bootstrap: &Path, env: &[(String, String)], events: &[(String, String)]) -> Vec<Handled> {
    let api = RuntimeApi::start();
    let started = Instant::now();
    let child = Command::new(bootstrap)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", bootstrap.display()));
    let process = Running(child);
    let mut handled = Vec::new();
    for (i, (label, event)) in events.iter().enumerate() {
        let handed_out = if i == 0 { started } else { Instant::now() };
        api.events.send(event.clone()).expect("the runtime API is up");
        let outcome = api.answers.recv_timeout(EVENT_TIMEOUT).unwrap_or_else(|_| "timeout".to_string());
        let seconds = handed_out.elapsed().as_secs_f64();
        // The process now waits for its next event: its peak is settled.
        std::thread::sleep(Duration::from_millis(20));
        let peak = peak_rss_kib(Some(process.0.id())).map(|kib| kib as f64 / 1024.0);
        let outcome: String = outcome.chars().take(300).collect();
        handled.push(Handled { label: label.clone(), seconds, peak_rss_mib: peak, outcome });
    }
    drop(process);
    handled
}
