//! Smoke tests of the load generator against a real `anychat-server`:
//! `anychat-bench calls` for one second at a low rate, and `media` with a few
//! calls for one second. Correctness only: calls complete, none fails, frames
//! arrive; no timing is asserted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `anychat-server` on a free loopback port; returns it and its address.
fn start_server() -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anychat-server"))
        .args(["--listen", "127.0.0.1:0", "--business-listen", "off", "--log-level", "warn", "--records", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start anychat-server");
    let stdout = child.stdout.take().expect("server stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the server's first line");
    let addr = line
        .trim()
        .strip_prefix("anychat-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .to_string();
    (server, addr)
}

#[test]
fn bench_completes_calls_without_failure() {
    let (server, addr) = start_server();
    let json = std::env::temp_dir().join(format!("anychat-bench-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_anychat-bench"))
        .args(["calls", "--server", &addr, "--pairs", "20", "--rate", "200", "--duration", "1", "--json"])
        .arg(&json)
        .args(["--server-pid", &server.0.id().to_string()])
        .output()
        .expect("run anychat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "anychat-bench failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&json).expect("the JSON summary");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let completed = v["completed"].as_u64().expect("completed");
    let failed = v["failed"].as_u64().expect("failed");
    assert!(completed > 0, "no call completed:\n{stdout}");
    assert_eq!(failed, 0, "failed calls: {}\n{stdout}", v["failed_by_reason"]);
    assert_eq!(v["login"]["ok"].as_u64(), Some(40), "all 40 users log in");
    assert_eq!(v["placed"].as_u64(), Some(completed + failed), "every call placed ended");
    assert!(v["setup_latency_ms"]["samples"].as_u64() == Some(completed));
    assert!(v["server"]["vm_hwm_kib"].as_u64().is_some_and(|k| k > 0), "server memory read from /proc");
}

#[test]
fn bench_media_relays_frames() {
    let (server, addr) = start_server();
    let json = std::env::temp_dir().join(format!("anychat-bench-media-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_anychat-bench"))
        .args(["media", "--server", &addr, "--calls", "5", "--seconds", "1", "--audio", "--json"])
        .arg(&json)
        .args(["--server-pid", &server.0.id().to_string()])
        .output()
        .expect("run anychat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "anychat-bench media failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(&json).expect("the JSON summary");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["login"]["ok"].as_u64(), Some(10), "all 10 users log in");
    assert_eq!(v["calls_up"].as_u64(), Some(5), "every call started:\n{stdout}");
    assert_eq!(v["failed"].as_u64(), Some(0), "failed calls: {}\n{stdout}", v["failed_by_reason"]);
    assert_eq!(v["completed"].as_u64(), Some(5), "every call finished after the streaming:\n{stdout}");
    for kind in ["video", "audio"] {
        let s = &v[kind];
        let received = s["received"].as_u64().expect("received");
        assert!(received > 0, "no {kind} frame received:\n{stdout}");
        assert!(received <= s["sent"].as_u64().expect("sent"), "{kind}: more received than sent");
        assert_eq!(s["latency_ms"]["samples"].as_u64(), Some(received), "{kind}: one latency per frame");
        assert_eq!(s["out_of_order"].as_u64(), Some(0), "{kind}: frames out of order:\n{stdout}");
        assert_eq!(s["silent_streams"].as_u64(), Some(0), "{kind}: a stream never arrived:\n{stdout}");
    }
    assert!(v["video"]["key_sent"].as_u64().is_some_and(|k| k > 0), "key frames sent");
    assert!(v["server"]["cpu_s_per_stream_per_s"].as_f64().is_some(), "server CPU read from /proc");
}

/// `media --audio-codec opus`: the codec is timed in-process, and audio of
/// Opus packet sizes reaches every receiver, at a fraction of PCM's bytes.
#[cfg(feature = "opus")]
#[test]
fn bench_media_opus_mode_reports_codec_cost_and_relays() {
    let (_server, addr) = start_server();
    let json = std::env::temp_dir().join(format!("anychat-bench-opus-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_anychat-bench"))
        .args(["media", "--server", &addr, "--calls", "2", "--seconds", "1", "--audio-codec", "opus"])
        .args(["--codec-seconds", "1", "--json"])
        .arg(&json)
        .output()
        .expect("run anychat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "anychat-bench media --audio-codec opus failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("the JSON summary");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["audio_codec"], "opus");
    assert_eq!(v["completed"].as_u64(), Some(2), "every call finished:\n{stdout}");
    let opus = &v["opus"];
    assert_eq!(opus["frames"].as_u64(), Some(50), "1 s of 20 ms frames timed:\n{stdout}");
    for k in ["encode_us_per_frame", "decode_us_per_frame"] {
        assert!(opus[k].as_f64().is_some_and(|t| t > 0.0), "{k} measured:\n{stdout}");
    }
    let (up, pcm) = (opus["wire_up_bytes_per_s"].as_f64().unwrap(), opus["pcm_up_bytes_per_s"].as_f64().unwrap());
    assert!(up > 0.0 && up * 4.0 < pcm, "Opus {up} B/s against PCM {pcm} B/s");
    let audio = &v["audio"];
    assert!(audio["received"].as_u64().is_some_and(|n| n > 0), "audio relayed:\n{stdout}");
    assert_eq!(audio["silent_streams"].as_u64(), Some(0), "every audio stream arrived:\n{stdout}");
    let per_frame = audio["wire_bytes_per_frame"].as_f64().unwrap();
    assert!(per_frame * 50.0 * 4.0 < pcm, "{per_frame} B per audio message sent");
}
