//! Metrics of the control plane: a real scrape passes `promtool check metrics`, the alert
//! rules pass `promtool check rules`, and the sliding-window p95/p99 gauges rise with slow
//! requests and fall back once those leave the window (driven by an injected clock).

mod http_support;

use actix_web::test::{self, TestRequest};
use actix_web::{web, HttpResponse};
use axiom::node::metrics::window::WINDOW_MS;
use axiom::node::metrics::{ManualClock, Metrics};
use http_support::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Reads `/metrics` of a test service as text.
macro_rules! scrape_text {
    ($app:expr) => {{
        let body = test::call_and_read_body($app, TestRequest::get().uri("/metrics").to_request()).await;
        String::from_utf8(body.to_vec()).expect("scrape is UTF-8")
    }};
}

/// Returns the path of promtool, or None (with a loud note) when it is not installed.
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: promtool is not installed (Debian package `prometheus`; scripts/install-deps.sh installs it)");
        return None;
    }
    Some("promtool")
}

/// Parses the value of the sample `name{endpoint="…"}` from a scrape.
fn gauge(scrape: &str, name: &str, endpoint: &str) -> Option<f64> {
    let prefix = format!("{name}{{endpoint=\"{endpoint}\"}} ");
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse().ok())
}

#[actix_rt::test]
async fn scrape_passes_promtool() {
    let Some(promtool) = promtool() else {
        return;
    };
    let node = start_node();
    let app = test::init_service(axiom::http::app(node.node.clone(), node.authenticator.clone())).await;

    let sre = format!("Bearer {}", token("sre", TENANT));
    for index in 0..20 {
        let event = serde_json::json!({
            "tenant": TENANT, "domain": "finance", "source": format!("feed-{}", index % 3),
            "event_time_ms": axiom::http::unix_now_ms() - 5_000,
        });
        let ingest = TestRequest::post()
            .uri("/v1/sources/events")
            .insert_header(("Authorization", sre.clone()))
            .set_json(event)
            .to_request();
        test::call_service(&app, ingest).await;
        let list = TestRequest::get()
            .uri("/v1/incidents")
            .insert_header(("Authorization", sre.clone()))
            .to_request();
        test::call_service(&app, list).await;
        let unauthenticated = TestRequest::get().uri("/v1/keys").to_request();
        test::call_service(&app, unauthenticated).await;
        let decide = TestRequest::post()
            .uri("/v1/decide")
            .insert_header(("Authorization", format!("Bearer {}", token("operator", TENANT))))
            .set_payload("{\"not\": \"an envelope\"}")
            .to_request();
        test::call_service(&app, decide).await;
    }

    let scrape = test::call_and_read_body(&app, TestRequest::get().uri("/metrics").to_request()).await;
    let scrape = String::from_utf8(scrape.to_vec()).expect("scrape is UTF-8");
    for name in [
        "axiom_request_duration_seconds_bucket",
        "axiom_latency_p95_seconds",
        "axiom_latency_p99_seconds",
        "axiom_endpoint_max_millis",
        "axiom_decisions_total",
        "axiom_source_age_seconds",
        "axiom_http_auth_rejections_total",
    ] {
        assert!(scrape.contains(name), "scrape lacks {name}:\n{scrape}");
    }
    assert!(scrape.contains("endpoint=\"/v1/sources/events\""), "route templates label the latency");
    assert!(scrape.contains("axiom_http_auth_rejections_total{reason=\"missing_token\"} 20"));

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write scrape");
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn alert_rules_pass_promtool() {
    let Some(promtool) = promtool() else {
        return;
    };
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
    let output = Command::new(promtool)
        .args(["check", "rules", rules])
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let text = std::fs::read_to_string(rules).expect("rules file");
    for alert in ["AxiomP95LatencyHigh", "AxiomP99LatencyHigh", "AxiomBadSignatureSpike", "AxiomReplaySpike", "AxiomSmtUnavailable", "AxiomSmtNonFormal", "AxiomSourceStale", "AxiomEscrowBacklog"] {
        assert!(text.contains(&format!("alert: {alert}\n")), "alert {alert} missing");
    }
    assert!(text.contains("max by (endpoint) (axiom_latency_p95_seconds) > 0.2"));
    assert!(text.contains("max by (endpoint) (axiom_latency_p99_seconds) > 0.5"));
}

#[test]
fn kubernetes_rules_match_alert_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/alerts.yml")).expect("rules");
    let config_map = std::fs::read_to_string(format!("{root}/deploy/k8s/prometheus-rules.yaml")).expect("config map");
    let marker = "  axiom-alerts.yml: |\n";
    let embedded: String = config_map
        .split_once(marker)
        .map(|(_, body)| body)
        .unwrap_or("")
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(embedded, rules, "deploy/k8s/prometheus-rules.yaml is out of date");
}

#[actix_rt::test]
async fn percentiles_follow_the_window() {
    // Goal: the p95/p99/max gauges rise while one endpoint turns slow and fall back once the
    // slow samples are older than the window. Method: a test-only route sleeps for a delay the
    // test sets; the metrics read an injected clock, so leaving the window needs no real wait.
    let node = start_node();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let metrics = Arc::new(Metrics::new(clock.clone()));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let route_delay = delay_ms.clone();
    let app = test::init_service(axiom::http::app_with_metrics(
        node.node.clone(),
        node.authenticator.clone(),
        metrics.clone(),
        move |config| {
            config.app_data(web::Data::from(route_delay)).route(
                "/test/variable",
                web::get().to(|delay: web::Data<AtomicU64>| async move {
                    let millis = delay.load(Ordering::Relaxed);
                    actix_rt::time::sleep(Duration::from_millis(millis)).await;
                    HttpResponse::Ok().finish()
                }),
            );
        },
    ))
    .await;
    let endpoint = "/test/variable";

    for _ in 0..40 {
        test::call_service(&app, TestRequest::get().uri(endpoint).to_request()).await;
    }
    let fast = scrape_text!(&app);
    let fast_p95 = gauge(&fast, "axiom_latency_p95_seconds", endpoint).expect("p95 while fast");
    assert!(fast_p95 < 0.1, "p95 while fast is {fast_p95}");

    delay_ms.store(300, Ordering::Relaxed);
    clock.advance_ms(5_000);
    for _ in 0..10 {
        test::call_service(&app, TestRequest::get().uri(endpoint).to_request()).await;
    }
    let slow = scrape_text!(&app);
    let slow_p95 = gauge(&slow, "axiom_latency_p95_seconds", endpoint).expect("p95 while slow");
    let slow_p99 = gauge(&slow, "axiom_latency_p99_seconds", endpoint).expect("p99 while slow");
    let slow_max = gauge(&slow, "axiom_endpoint_max_millis", endpoint).expect("max while slow");
    assert!(slow_p95 >= 0.3, "p95 while slow is {slow_p95}, below the 300 ms delay");
    assert!(slow_p99 >= 0.3, "p99 while slow is {slow_p99}");
    assert!(slow_max >= 300.0, "max while slow is {slow_max} ms");

    delay_ms.store(0, Ordering::Relaxed);
    clock.advance_ms(WINDOW_MS);
    for _ in 0..40 {
        test::call_service(&app, TestRequest::get().uri(endpoint).to_request()).await;
    }
    let recovered = scrape_text!(&app);
    let recovered_p95 = gauge(&recovered, "axiom_latency_p95_seconds", endpoint).expect("p95 after");
    let recovered_p99 = gauge(&recovered, "axiom_latency_p99_seconds", endpoint).expect("p99 after");
    let recovered_max = gauge(&recovered, "axiom_endpoint_max_millis", endpoint).expect("max after");
    assert!(recovered_p95 < 0.1, "p95 after the window is {recovered_p95}");
    assert!(recovered_p99 < 0.1, "p99 after the window is {recovered_p99}");
    assert!(recovered_max < 100.0, "max after the window is {recovered_max} ms");

    let lifetime_count = format!("axiom_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} 90");
    assert!(recovered.contains(&lifetime_count), "lifetime histogram keeps every request");
}

