//! Operating the core server: `/metrics` after scripted calls, the status
//! page in a headless browser, call records and missed calls across a
//! restart, and `anychat-server records`.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, Bras, Cli, Server, TempDir};

/// `GET path` on the admin listener: (status line, body).
fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin listener");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read the answer");
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

/// Prometheus text → `name{labels}` → value; checks every sample line has
/// a HELP and TYPE before it.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split_whitespace().next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line}"));
        let name = key.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(typed.contains(name) || typed.contains(family), "no TYPE for {name}");
        samples.insert(key.to_string(), value.parse().unwrap_or_else(|_| panic!("bad value in {line}")));
    }
    samples
}

fn admin_server(extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--admin-listen", listen.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    (server, port)
}

/// A calls B (who accepts on its own); both see START.
fn answered(a: &mut Cli, b: &mut Cli) {
    assert_eq!(a.cmd(&format!("request {} 3 0", b.user_id)), 0);
    b.expect_call("REQUEST", a.user_id, 0);
    a.expect_call("START", b.user_id, 0);
    b.expect_call("START", a.user_id, 0);
}

#[test]
fn metrics_count_what_the_scripted_calls_did() {
    let (server, port) = admin_server(&[]);
    let mut alice = Cli::login(&server, "alice", &[]);
    let mut bob = Cli::login(&server, "bob", &["--auto-accept"]);
    let mut carol = Cli::login(&server, "carol", &[]);
    let dave = Cli::login(&server, "dave", &["--auto-refuse", "100104"]);
    // Two answered calls, finished by each side.
    answered(&mut alice, &mut bob);
    assert_eq!(alice.cmd(&format!("finish {}", bob.user_id)), 0);
    bob.expect_call("FINISH", alice.user_id, 0);
    answered(&mut alice, &mut bob);
    // One in progress when the metrics are read; calling either party of
    // it is busy. A refusal, and a call to nobody.
    assert_eq!(carol.cmd(&format!("request {} 3 0", alice.user_id)), 0);
    carol.expect_call("REPLY", alice.user_id, 100_103);
    assert_eq!(carol.cmd(&format!("request {} 3 0", dave.user_id)), 0);
    carol.expect_call("REPLY", dave.user_id, 100_104);
    assert_eq!(carol.cmd("request 4242 3 0"), 0);
    carol.expect_call("REPLY", 4242, 100_102);
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let m = parse_metrics(&body);
    let v = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in\n{body}"));
    assert_eq!(v("anychat_users_online"), 4.0);
    assert_eq!(v("anychat_calls{state=\"active\"}"), 1.0);
    assert_eq!(v("anychat_calls{state=\"ringing\"}"), 0.0);
    assert_eq!(v("anychat_calls_total{outcome=\"answered\"}"), 1.0, "the one finished");
    assert_eq!(v("anychat_calls_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(v("anychat_calls_total{outcome=\"offline\"}"), 1.0);
    assert_eq!(v("anychat_calls_total{outcome=\"busy\"}"), 1.0);
    assert_eq!(v("anychat_calls_total{outcome=\"timeout\"}"), 0.0);
    assert_eq!(v("anychat_call_setup_seconds_count"), 2.0, "two calls were accepted");
    assert_eq!(v("anychat_call_setup_seconds_bucket{le=\"+Inf\"}"), 2.0);
    assert_eq!(v("anychat_missed_calls_total"), 2.0, "the busy one and the call to nobody");
    assert_eq!(v("anychat_business_linked"), 0.0);
    assert_eq!(v("anychat_records_dropped_total"), 0.0);
    assert_eq!(v("anychat_connections_refused_total{reason=\"full\"}"), 0.0);
    // Unknown paths and methods.
    assert_eq!(get(port, "/nothing").0, "HTTP/1.1 404 Not Found");
    drop((alice, bob, carol, dave));
}

#[test]
fn metrics_show_the_business_server_its_answers_and_its_vetoes() {
    let (server, port) = admin_server(&[]);
    let get_metrics = || parse_metrics(&get(port, "/metrics").1);
    assert_eq!(get_metrics()["anychat_business_linked"], 0.0);
    let mut alice = Cli::login(&server, "alice", &[]);
    let bob = Cli::login(&server, "bob", &[]);
    let _bras = Bras::start(&server, &["--refuse-to", &format!("{}:4242", bob.user_id)]);
    assert_eq!(alice.cmd(&format!("request {} 3 0", bob.user_id)), 0);
    alice.expect_call("REPLY", bob.user_id, 4242);
    let m = get_metrics();
    assert_eq!(m["anychat_business_linked"], 1.0);
    assert_eq!(m["anychat_business_answer_seconds_count"], 1.0, "the one question put to it");
    assert_eq!(m["anychat_business_timeouts_total"], 0.0);
    assert_eq!(m["anychat_calls_total{outcome=\"vetoed\"}"], 1.0);
    assert_eq!(m["anychat_missed_calls_total"], 0.0, "a vetoed call is not a missed call");
    let j: serde_json::Value = serde_json::from_str(&get(port, "/api/status").1).unwrap();
    assert_eq!(j["business"]["linked"], true);
}

#[test]
fn status_page_shows_two_users_in_a_call_in_a_headless_browser() {
    let (server, port) = admin_server(&[]);
    let mut alice = Cli::login(&server, "alice", &[]);
    let mut bob = Cli::login(&server, "bob", &["--auto-accept"]);
    answered(&mut alice, &mut bob);
    // The JSON API.
    let (status, body) = get(port, "/api/status");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let j: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(j["users_online"], 2);
    assert_eq!(j["calls_active"], 1);
    let names: Vec<&str> = j["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alice") && names.contains(&"bob"), "{names:?}");
    let call = &j["calls"][0];
    assert_eq!((call["caller_name"].as_str(), call["callee_name"].as_str()), (Some("alice"), Some("bob")));
    assert_eq!(call["state"], "active");
    assert_eq!(call["flags"], 3);

    // The page in a real browser: its DOM, then a screenshot.
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("a headless browser is needed: install Debian's chromium (.ci/run does)");
    let profile = TempDir::new("chromium");
    let url = format!("http://127.0.0.1:{port}/");
    let run = |extra: &[&str]| {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run the browser");
        assert!(out.status.success(), "browser failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run(&["--dump-dom"]);
    assert!(dom.contains("<table id=\"calls\">"), "the calls table: {dom}");
    let calls_table = dom.split("<table id=\"calls\">").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(calls_table.contains("alice") && calls_table.contains("bob"), "both in the call: {calls_table}");
    assert!(calls_table.contains("active") && calls_table.contains("audio+video"), "{calls_table}");
    assert!(dom.contains("id=\"users-online\">2<"), "two users online: {dom}");
    let shot = profile.0.join("status.png");
    run(&[&format!("--screenshot={}", shot.display()), "--window-size=1024,768", "--hide-scrollbars"]);
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 10_000, "a page with text, not a blank picture: {} bytes", png.len());
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("anychat-status-page.png"));
    drop((alice, bob));
}

/// Stops a server with SIGTERM and waits until it wrote its records.
fn stop(server: Server) {
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    server.expect_log("stopped");
    server.kill();
}

fn records(state: &TempDir, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_anychat-server"))
        .args(["records", "--state-dir"])
        .arg(&state.0)
        .args(args)
        .output()
        .expect("run anychat-server records");
    assert!(out.status.success(), "records {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn records_and_a_missed_call_survive_a_restart() {
    let state = Arc::new(TempDir::new("records"));
    let server = Server::start_in(state.clone(), "127.0.0.1:0", "127.0.0.1:0", &[]);
    let mut alice = Cli::login(&server, "alice", &[]);
    let mut bob = Cli::login(&server, "bob", &["--auto-accept"]);
    let (alice_id, bob_id) = (alice.user_id, bob.user_id);
    answered(&mut alice, &mut bob);
    assert_eq!(bob.cmd(&format!("finish {alice_id}")), 0);
    alice.expect_call("FINISH", bob_id, 0);
    bob.quit();
    server.expect_log("session ended");
    // Bob is away: alice's call is a missed call for him.
    assert_eq!(alice.cmd(&format!("request {bob_id} 1 0")), 0);
    alice.expect_call("REPLY", bob_id, 100_102);
    alice.quit();
    stop(server);

    let server = Server::start_in(state.clone(), "127.0.0.1:0", "127.0.0.1:0", &[]);
    let mut bob = Cli::login(&server, "bob", &[]);
    assert_eq!(bob.user_id, bob_id, "user ids are kept across restarts");
    bob.expect(&format!("notify USERINFOUPDATE {bob_id} 900"));
    assert_eq!(bob.cmd(&format!("userinfo {bob_id} 900")), 0);
    let line = bob.expect(&format!("userinfo {bob_id} 900 "));
    let fields: Vec<&str> = line.split_once(" 900 ").unwrap().1.split('\t').collect();
    assert_eq!(fields[1..], [alice_id.to_string().as_str(), "alice", "1", "offline"], "{line}");
    let dave = Cli::login(&server, "dave", &[]);
    assert!(dave.user_id > bob_id.max(alice_id), "new ids continue after the kept ones");
    drop((bob, dave));
    stop(server);

    // The records: one per attempt, newest first.
    let json: serde_json::Value = serde_json::from_str(&records(&state, &["--format", "json"])).expect("JSON");
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    assert_eq!(rows[0]["outcome"], "offline");
    assert_eq!(rows[0]["callee_name"], "bob");
    assert_eq!(rows[0]["missed"], 1);
    assert!(rows[0]["shown_ms"].as_u64().is_some(), "shown at bob's login: {}", rows[0]);
    assert_eq!(rows[1]["outcome"], "answered");
    assert_eq!(rows[1]["ended_by"], "callee");
    assert_eq!((rows[1]["caller_name"].as_str(), rows[1]["callee_name"].as_str()), (Some("alice"), Some("bob")));
    assert_eq!(rows[1]["caller_addr"], "127.0.0.1");
    assert!(rows[1]["started_ms"].as_u64().is_some() && rows[1]["room"].as_u64().is_some());
    let call_ids: Vec<u64> = rows.iter().map(|r| r["call_id"].as_u64().unwrap()).collect();
    assert!(call_ids[0] > call_ids[1]);
    // Filters and CSV.
    let csv = records(&state, &["--format", "csv", "--user", "bob", "--missed"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "a header and bob's missed call: {csv}");
    assert!(lines[0].starts_with("call_id,caller,caller_name,"));
    assert!(lines[1].contains(",offline,"), "{csv}");
    assert_eq!(records(&state, &["--format", "csv", "--outcome", "answered"]).lines().count(), 2);
    assert_eq!(records(&state, &["--format", "csv", "--since", "2999-01-01"]).lines().count(), 1);
    let table = records(&state, &["--user", "alice"]);
    assert!(table.contains("alice (") && table.contains("missed, shown"), "{table}");
}
