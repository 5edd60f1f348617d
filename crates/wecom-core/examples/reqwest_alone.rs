//! The floor under every wecom send: reqwest, set up as `transport.rs` sets it up, sending the
//! benchmark's message/send with nothing of wecom around it (no Ruby, no token cache, no retry
//! logic). `bench/run.rb` runs it against the same nginx as wrk and the Ruby clients, so one run
//! shows what the transport the gem was specified with can reach on the machine at hand.
//!
//! ```text
//! cargo run --release --example reqwest_alone -- BASE_URL TOKEN SENDS THREADS
//! ```
//!
//! Each thread owns a current-thread runtime and a `reqwest::Client`, as a wecom calling thread
//! does, and sends SENDS / THREADS messages one after another after a warm-up. It prints one
//! line of JSON: `{"sends":…,"warm_up":…,"seconds":…,"cpu_seconds":…}` (the timed sends, the
//! untimed ones before them, and the timed part's wall and CPU time, user+sys of the process).

use std::time::{Duration, Instant};

const BODY: &str = r#"{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"Interview reminder #1: today at 15:00"}}"#;
const WARM_UP: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, token, sends, threads] = args.as_slice() else {
        eprintln!("usage: reqwest_alone BASE_URL TOKEN SENDS THREADS");
        std::process::exit(2);
    };
    let url = format!("{base}/cgi-bin/message/send?access_token={token}");
    let threads: usize = threads.parse().expect("THREADS: a number");
    let per_thread = sends.parse::<usize>().expect("SENDS: a number") / threads;

    let ready = std::sync::Arc::new(std::sync::Barrier::new(threads + 1));
    let go = std::sync::Arc::new(std::sync::Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (url, ready, go) = (url.clone(), ready.clone(), go.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                let client = client();
                runtime.block_on(send(&client, &url, WARM_UP));
                ready.wait();
                go.wait();
                runtime.block_on(send(&client, &url, per_thread));
            })
        })
        .collect();
    ready.wait();
    let (started, cpu_before) = (Instant::now(), cpu_time());
    go.wait();
    for worker in workers {
        worker.join().expect("a sending thread");
    }
    let (seconds, cpu) = (started.elapsed(), cpu_time() - cpu_before);
    println!(
        r#"{{"sends":{},"warm_up":{},"seconds":{},"cpu_seconds":{}}}"#,
        per_thread * threads,
        WARM_UP * threads,
        seconds.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

/// The settings of `transport.rs`'s `Pool::new` for a direct route.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("wecom-bench")
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .http1_only()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// `count` sends, each answer read and its JSON parsed, as wecom does.
async fn send(client: &reqwest::Client, url: &str, count: usize) {
    for _ in 0..count {
        let response = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(BODY)
            .send()
            .await
            .expect("the server answers");
        let body = response.bytes().await.expect("an answer's body");
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(answer["errcode"], 0, "the server's answer: {answer}");
    }
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let of = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    of(usage.ru_utime) + of(usage.ru_stime)
}
