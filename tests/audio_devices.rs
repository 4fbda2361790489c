//! The microphone and speaker with the fake devices, two processes to a
//! room: A opens its microphone the vendor's way (`BRAC_UserSpeakControl(-1,
//! TRUE)`, no external input) on a fake tone microphone; B hears it on its
//! fake speaker (a `.wav` file) with `BRAC_FUNC_AUDIO_AUTOPLAY`, D through
//! `BRAC_FetchAudioPlayBuffer` without it. A's audio goes as Opus; C's, to
//! D which decodes no Opus (`ANYCHAT_NO_OPUS=1`), falls back to PCM: the
//! bytes each sends are counted on the wire by a relay in between.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Cli, Server, TempDir};

/// A TCP relay to the server that counts the bytes the client sends.
fn counting_relay(server_port: u16) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    let up = count.clone();
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else { return };
        let server = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (mut s_in, mut c_out) = (server, client);
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n @ 1..) = s_in.read(&mut buf) {
                if c_out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 16384];
        while let Ok(n @ 1..) = c_in.read(&mut buf) {
            up.fetch_add(n as u64, Ordering::SeqCst);
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (port, count)
}

/// A client with `env` and `opts`, logged in through `port`, in room `room`.
fn join(port: u16, name: &str, room: u32, opts: &[&str], env: &[(&str, &str)]) -> Cli {
    let mut cli = Cli::spawn_env(name, opts, env);
    assert_eq!(cli.cmd(&format!("connect 127.0.0.1 {port}")), 0);
    cli.expect("notify CONNECT 1 0");
    assert_eq!(cli.cmd(&format!("login {name}")), 0);
    let line = cli.expect("notify LOGINSYSTEM ");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[3], "0", "{name}: {line}");
    cli.user_id = f[2].parse().unwrap();
    assert_eq!(cli.cmd(&format!("enter {room}")), 0);
    cli.expect(&format!("notify ENTERROOM {room} 0"));
    cli
}

/// The power of `freq` in mono 16-bit samples at 16 kHz.
fn power(pcm: &[i16], freq: f64) -> f64 {
    anychat::codec::patterns::tone_power(pcm, 16000, freq)
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
}

/// The samples of a 16-bit mono `.wav` file the fake speaker wrote.
fn wav_samples(path: &std::path::Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 44 && &bytes[0..4] == b"RIFF" && &bytes[36..40] == b"data", "not a wav file");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]), 16000, "16 kHz");
    let len = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]) as usize;
    bytes[44..44 + len.min(bytes.len() - 44)].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

#[test]
fn a_microphone_tone_reaches_the_peers_speaker_and_fetch_buffer_as_opus_or_pcm() {
    let server = Server::start(&[]);
    let dir = TempDir::new("audio-devices");
    let wav = dir.0.join("b-speaker.wav");
    const SECS: f64 = 3.0;
    let tone = |f: u32| format!("tone:{f}:{SECS}");
    let (a_port, a_bytes) = counting_relay(server.port);
    let (c_port, c_bytes) = counting_relay(server.port);
    // Room 1: A (tone 440 Hz) → B (autoplay into its fake speaker).
    let mut a = join(a_port, "a", 1, &[], &[("ANYCHAT_FAKE_MIC", &tone(440))]);
    let mut b = join(server.port, "b", 1, &["--func-mode", "8"], &[("ANYCHAT_FAKE_SPEAKER", wav.to_str().unwrap())]);
    b.expect("notify AUDIOPLAYCTRL 1 0");
    // Room 2: C (tone 1000 Hz) → D (no Opus; fetches the mix).
    let mut c = join(c_port, "c", 2, &[], &[("ANYCHAT_FAKE_MIC", &tone(1000))]);
    let mut d = join(server.port, "d", 2, &[], &[("ANYCHAT_NO_OPUS", "1")]);

    // The fake devices are listed by name; a device not listed is refused.
    a.send("mics");
    a.expect("device anychat-fake-mic");
    b.send("speakers");
    b.expect("device anychat-fake-speaker");
    assert_eq!(a.cmd("selectmic no-such-microphone"), 21);
    assert_eq!(a.cmd("selectmic anychat-fake-mic"), 0);
    a.send("curmic");
    a.expect("curmic anychat-fake-mic");

    assert_eq!(b.cmd(&format!("mic {} 1", a.user_id)), 0);
    assert_eq!(d.cmd(&format!("mic {} 1", c.user_id)), 0);
    let before = (a_bytes.load(Ordering::SeqCst), c_bytes.load(Ordering::SeqCst));
    let start = Instant::now();
    assert_eq!(a.cmd("mic -1 1"), 0);
    assert_eq!(c.cmd("mic -1 1"), 0);
    a.expect("notify AUDIORECCTRL 1 0");
    c.expect("notify AUDIORECCTRL 1 0");
    // D fetches 2 s of the mix while C's tone plays.
    d.send("fetch 2000");
    let fetched = d.expect_within("fetched ", Duration::from_secs(10));
    // The tone ends: the microphones report it, nothing hangs.
    a.expect_within("notify AUDIORECCTRL 0 2", Duration::from_secs(10));
    c.expect_within("notify AUDIORECCTRL 0 2", Duration::from_secs(10));
    let secs = start.elapsed().as_secs_f64();
    let opus = (a_bytes.load(Ordering::SeqCst) - before.0) as f64 / SECS;
    let pcm = (c_bytes.load(Ordering::SeqCst) - before.1) as f64 / SECS;
    println!("bytes/s on the wire: Opus {opus:.0}, PCM {pcm:.0} (16 kHz mono: 32000 of samples); {secs:.1} s");
    assert!(pcm > 30_000.0, "C's audio to a receiver without Opus goes as PCM: {pcm:.0} B/s");
    assert!(opus * 4.0 <= pcm, "Opus {opus:.0} B/s is more than a quarter of PCM's {pcm:.0}");

    // D heard C's tone through BRAC_FetchAudioPlayBuffer.
    let fetched_rms: f64 = fetched.split("rms=").nth(1).unwrap().parse().unwrap();
    assert!(fetched_rms > 2000.0, "D fetched silence: {fetched}");
    d.assert_not_seen("notify AUDIOPLAYCTRL");

    // B's speaker played A's tone: 440 Hz, at the level sent.
    b.send("sleep 300");
    b.expect("ret sleep 0");
    let samples = wav_samples(&wav);
    let windows: Vec<&[i16]> = samples.chunks(1600).filter(|w| rms(w) > 2000.0).collect();
    let heard = windows.len() as f64 / 10.0;
    assert!(heard > SECS - 0.6 && heard < SECS + 0.3, "{heard} s of tone on B's speaker");
    let body: Vec<i16> = windows[2..windows.len() - 2].concat();
    let level = rms(&body);
    assert!((4500.0..6500.0).contains(&level), "B's speaker level {level:.0} (5657 sent)");
    let p440 = power(&body, 440.0);
    for other in [300.0, 600.0, 880.0, 1000.0] {
        assert!(p440 > 50.0 * power(&body, other), "440 Hz is not the tone heard ({other} Hz as strong)");
    }
    println!("B's speaker: {heard:.1} s of 440 Hz at rms {level:.0}; D fetched rms {fetched_rms:.0}");
}

/// The microphone's processing options: kept and read back when this build
/// has the audio processing module (feature `apm`), else refused with 20;
/// with all four on, A's microphone still reaches B's speaker.
#[test]
fn processing_options_are_kept_and_the_microphone_still_reaches_the_peer() {
    let server = Server::start(&[]);
    let dir = TempDir::new("audio-processing");
    let wav = dir.0.join("b-speaker.wav");
    const SECS: f64 = 2.0;
    let mut a = join(server.port, "a", 1, &[], &[("ANYCHAT_FAKE_MIC", &format!("tone:440:{SECS}"))]);
    let mut b = join(server.port, "b", 1, &["--func-mode", "8"], &[("ANYCHAT_FAKE_SPEAKER", wav.to_str().unwrap())]);
    b.expect("notify AUDIOPLAYCTRL 1 0");
    // BRAC_SO_AUDIO_VADCTRL 1, NSCTRL 2, ECHOCTRL 3, AGCCTRL 4.
    let expected = if cfg!(feature = "apm") { 0 } else { 20 };
    for opt in [1, 2, 3, 4] {
        assert_eq!(a.cmd(&format!("option {opt} 1")), expected, "BRAC_SetSDKOption({opt}, 1)");
        a.send(&format!("getoption {opt}"));
        if expected == 0 {
            a.expect(&format!("option {opt} 1"));
            a.expect("ret getoption 0");
        } else {
            a.expect("ret getoption 20");
        }
    }
    assert_eq!(b.cmd(&format!("mic {} 1", a.user_id)), 0);
    assert_eq!(a.cmd("mic -1 1"), 0);
    a.expect("notify AUDIORECCTRL 1 0");
    a.expect_within("notify AUDIORECCTRL 0 2", Duration::from_secs(10));
    b.send("sleep 300");
    b.expect("ret sleep 0");
    let samples = wav_samples(&wav);
    let windows: Vec<&[i16]> = samples.chunks(1600).filter(|w| rms(w) > 1000.0).collect();
    let heard = windows.len() as f64 / 10.0;
    println!("B's speaker: {heard:.1} s of A's processed tone");
    assert!(heard > SECS / 2.0, "{heard} s of A's tone on B's speaker");
    let body: Vec<i16> = windows.concat();
    for other in [300.0, 600.0, 1000.0] {
        assert!(power(&body, 440.0) > 10.0 * power(&body, other), "440 Hz is not the tone heard");
    }
}
