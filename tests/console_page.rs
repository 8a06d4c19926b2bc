//! The escrow review console: its embedded files are served with their content types and a
//! same-origin Content-Security-Policy, the fields its script reads are the ones the escrow
//! API returns, and headless Chromium renders the page from a real listener with the script
//! running under that policy.

mod workflow_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom_engine::model::Verdict;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use workflow_support::*;

/// Time Chromium gets to load and dump the page before the test fails, in seconds. A cold
/// start on a loaded 2-core machine takes a few seconds.
const CHROMIUM_TIMEOUT_S: u64 = 90;

fn console_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/console").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn header(headers: &actix_web::http::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[actix_rt::test]
async fn console_files_served_with_csp() {
    let test_node = start_node(&[]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;

    let cases = [
        ("/console/", "index.html", "text/html"),
        ("/console/index.html", "index.html", "text/html"),
        ("/console/app.js", "app.js", "text/javascript"),
        ("/console/style.css", "style.css", "text/css"),
    ];
    for (uri, file, content_type) in cases {
        let response = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert!(header(response.headers(), "content-type").starts_with(content_type), "{uri}: {}", header(response.headers(), "content-type"));
        let policy = header(response.headers(), "content-security-policy");
        assert!(policy.starts_with("default-src 'self';"), "{uri}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{uri}: {policy}");
        assert!(!policy.contains("unsafe-eval"), "{uri}: {policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{uri}: {policy}");
        assert_eq!(header(response.headers(), "x-content-type-options"), "nosniff", "{uri}");
        let body = test::read_body(response).await;
        assert_eq!(String::from_utf8_lossy(&body), console_file(file), "{uri} serves the embedded {file}");
    }

    for uri in ["/console/package.json", "/console/README.md", "/console/..%2FCargo.toml", "/console/../Cargo.toml"] {
        let response = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
    }

    // The page contains no inline script or style, which the policy would block.
    let page = console_file("index.html");
    assert!(!page.contains("<script>"), "inline script in index.html");
    assert!(!page.contains("<style"), "inline style in index.html");
    assert!(!page.contains(" style="), "inline style attribute in index.html");
    let handler = page.split(" on").skip(1).find(|rest| {
        let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    });
    assert!(handler.is_none(), "inline event handler in index.html: on{}", handler.unwrap_or_default().chars().take(40).collect::<String>());
}

#[actix_rt::test]
async fn console_reads_fields_api_returns() {
    let test_node = start_node(&[]);
    let app = test::init_service(axiom::http::app(test_node.node.clone(), test_node.authenticator.clone())).await;
    let response = decide(&test_node, &intent(ACTOR, "refund", "15000.00")).await;
    assert_eq!(response.verdict, Verdict::Escrow, "{response:?}");
    let escrow_id = response.escrow.expect("escrow summary").escrow_id;

    let approver = token_for("alice", &["approver"], TENANT);
    let listed: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri("/v1/escrows?status=PENDING").insert_header(("Authorization", approver.clone())).to_request(),
    )
    .await;
    let item = listed.as_array().and_then(|items| items.first()).expect("one pending escrow").clone();
    assert_eq!(item["escrow_id"], escrow_id.as_str());

    // Each pointer is a value the console renders; the script must name the same field.
    let script = console_file("app.js");
    let read_by_console = [
        ("/escrow_id", "escrow_id"),
        ("/tenant", "tenant"),
        ("/requesting_actor", "requesting_actor"),
        ("/intent/operation/name", "intent?.operation?.name"),
        ("/intent/operation/params/amount", "intent?.operation?.params?.amount"),
        ("/age_s", "age_s"),
        ("/approvals", "approvals"),
        ("/approvals_required", "approvals_required"),
        ("/expires_at_ms", "expires_at_ms"),
        ("/status", "status"),
        ("/decision_id", "decision_id"),
    ];
    for (pointer, expression) in read_by_console {
        assert!(item.pointer(pointer).is_some_and(|value| !value.is_null()), "listing lacks {pointer}: {item}");
        let read = ["escrow.", "escrow?.", "data."].iter().any(|object| script.contains(&format!("{object}{expression}")));
        assert!(read, "app.js does not read {expression}");
    }
    assert_eq!(item["intent"]["operation"]["params"]["amount"], "15000.00");
    assert_eq!(item["approvals_required"], 2);

    // An approver outside the pool is rejected with a message the console shows.
    let rejected = test::call_service(
        &app,
        TestRequest::post().uri(&format!("/v1/escrow/{escrow_id}/approve")).insert_header(("Authorization", approver.clone())).to_request(),
    )
    .await;
    assert_eq!(rejected.status(), StatusCode::FORBIDDEN);
    let body: Value = test::read_body_json(rejected).await;
    assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");

    // The decision record holds the reason code the detail view shows, for a reader of audits.
    let auditor = token_for("carol", &["complianceofficer"], TENANT);
    let record: Value = test::call_and_read_body_json(
        &app,
        TestRequest::get().uri(&format!("/v1/audit/{}", item["decision_id"].as_str().expect("decision id"))).insert_header(("Authorization", auditor)).to_request(),
    )
    .await;
    assert_eq!(record["decision"]["response"]["verdict"], "ESCROW", "{record}");
    assert!(record["decision"]["response"]["reason_code"].is_string(), "{record}");
    assert!(script.contains("decision?.response"), "app.js does not read the recorded response");
}

/// Returns the Chromium binary, or `None` when this machine has none.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|path| path.is_file())
        })
    })
}

/// Runs headless Chromium with `flags` on `url` and returns its standard output.
fn run_chromium(binary: &Path, flags: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile directory");
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(flags)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");

    let deadline = Instant::now() + Duration::from_secs(CHROMIUM_TIMEOUT_S);
    let mut stdout = child.stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_TIMEOUT_S} s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("reader thread").expect("chromium output")
}

#[actix_rt::test]
async fn console_renders_in_chromium() {
    let Some(binary) = chromium() else {
        eprintln!("SKIPPED console_renders_in_chromium: no chromium binary on PATH");
        return;
    };
    let test_node = start_node(&[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind control plane");
    let address = listener.local_addr().expect("address");
    let server = axiom::http::serve(test_node.node.clone(), test_node.authenticator.clone(), listener, 1).expect("serve");
    let handle = server.handle();
    actix_rt::spawn(server);

    let url = format!("http://{address}/console/");
    let screenshot_dir = std::env::var_os("CONSOLE_SCREENSHOT_DIR");
    let dom = tokio::task::spawn_blocking(move || {
        if let Some(dir) = screenshot_dir {
            let path = Path::new(&dir).join("console.png");
            let flags = [format!("--screenshot={}", path.display()), "--window-size=1280,800".to_owned()];
            run_chromium(&binary, &flags, &url);
        }
        run_chromium(&binary, &["--dump-dom".to_owned()], &url)
    })
    .await
    .expect("chromium task");
    handle.stop(true).await;

    assert!(dom.contains("<title>axiom escrow console</title>"), "{dom}");
    assert!(dom.contains(r#"<h1>axiom escrow console</h1>"#), "{dom}");
    // The module sets this after wiring every control, so it is missing if the script was
    // blocked by the policy or failed, and `error` if a script error happened later.
    assert!(dom.contains(r#"data-console-state="ready""#), "{dom}");
    assert!(!dom.contains("Console error"), "{dom}");
    assert!(dom.contains("Enter a bearer token to list escrows."), "{dom}");
}
