//! The web UI in a real browser: Debian's headless `chromium`, driven through `chromedriver`
//! (WebDriver) by fantoccini, against a real `openfero` process on loopback. One browser session
//! walks through the pages; each step waits on a condition (an element, a text), never on a
//! fixed sleep.
//!
//! Screenshots land in `$CARGO_TARGET_DIR/ui-screenshots/` (or `target/ui-screenshots/`; the
//! path is printed), among them the dashboard in light and dark mode; a failing step saves the
//! page it failed on as `failure-<step>.png` there too.
//!
//! Without chromium and chromedriver the test fails, unless `OPENFERO_SKIP_BROWSER=1` is set
//! (CI installs both, see `.ci/run`).
//!
//! The node runs with an auth file: an anonymous load of `/` is refused (401 with a basic
//! challenge), and the browser signs in as a viewer through credentials in the URL
//! (`http://user:password@127.0.0.1:port/`), which Chromium answers the challenge with and
//! then keeps for the origin (the page's fetches and its event stream).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions, MouseActions, PointerAction};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::support::{
    client as http_client, eventually, free_port, marker_operarios, webhook, ChildGuard,
    OpenferoProcess,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a step waits for its condition.
const WAIT: Duration = Duration::from_secs(15);
/// The viewer the browser signs in as.
const USER: &str = "vera";
const PASSWORD: &str = "vera-browser-pw";

/// Where screenshots go: `$CARGO_TARGET_DIR/ui-screenshots`, else `target/ui-screenshots`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("ui-screenshots")
}

/// `None` when the browser tools are present; else why not, unless skipping is allowed.
fn browser_missing() -> Option<String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let msg = format!(
        "browser tests need {} (Debian: apt-get install chromium chromium-driver); \
         set OPENFERO_SKIP_BROWSER=1 to skip them",
        missing.join(" and ")
    );
    if std::env::var("OPENFERO_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("skipping the browser tests: {msg}");
        return Some(msg);
    }
    panic!("{msg}");
}

/// The browser session and everything it runs against; processes are killed by their guards.
struct Session {
    browser: Client,
    node: OpenferoProcess,
    http: reqwest::Client,
    shots: PathBuf,
    _driver: ChildGuard,
    _tmp: tempfile::TempDir,
}

impl Session {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (ops, _) = marker_operarios(tmp.path(), &[("fix-disk", "DiskFull", "firing")]);
        // A rule that never runs here, with long names and several statuses: how the operarios
        // table wraps them.
        std::fs::write(
            ops.join("rehearse.yaml"),
            r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: rehearse-the-volume-cleanup-before-enforcing-it, namespace: storage-operations}
spec:
  mode: dry-run
  approval: required
  alertSelector:
    alertname: PersistentVolumeFillingUpWithinTheNextFourHours
    status: firing
    labels: {severity: critical, team: storage-and-backups-platform}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: clean
              image: registry.example.com/platform/storage/volume-cleaner-with-a-long-name:1.24.3-debian-bookworm
              command: ["/bin/true"]
"#,
        )
        .expect("write operarius");
        let hash =
            openfero::auth::hash_password_with(PASSWORD, openfero::auth::Cost::Test).expect("hash");
        let auth_file = tmp.path().join("auth.yaml");
        std::fs::write(
            &auth_file,
            format!("users:\n  - {{name: {USER}, role: viewer, passwordHash: \"{hash}\"}}\n"),
        )
        .expect("write auth file");
        let node = OpenferoProcess::start(
            &tmp.path().join("data"),
            &ops,
            free_port(),
            &["--auth-file", auth_file.to_str().expect("utf-8 path")],
        );
        let http = http_client();
        node.wait_ready(&http).await;
        // Anonymous: refused, with the challenge that makes a browser ask.
        let r = http.get(node.url("/")).send().await.expect("get /");
        assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
        let challenge = r.headers()["www-authenticate"].to_str().expect("ascii");
        assert!(
            challenge.starts_with("Basic realm=\"openfero\""),
            "{challenge}"
        );

        let port = free_port();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg("--log-level=WARNING");
        let driver = ChildGuard::spawn("chromedriver", cmd, tmp.path().join("chromedriver.log"));
        let driver_url = format!("http://127.0.0.1:{port}");
        let status = format!("{driver_url}/status");
        eventually("chromedriver to be ready", WAIT, || {
            let http = http.clone();
            let status = status.clone();
            async move {
                let v: Value = http.get(&status).send().await.ok()?.json().await.ok()?;
                (v["value"]["ready"] == true).then_some(())
            }
        })
        .await;

        let profile = tmp.path().join("chromium-profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let browser = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot open a chromium session through chromedriver: {e}\n{}",
                    driver.log_tail()
                )
            });
        let shots = screenshot_dir();
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        println!("UI screenshots: {}", shots.display());
        Self {
            browser,
            node,
            http,
            shots,
            _driver: driver,
            _tmp: tmp,
        }
    }

    fn url(&self, path: &str) -> String {
        self.node.url(path)
    }

    /// Navigate, signed in: the credentials ride in the URL, Chromium answers the 401 with them.
    async fn goto(&self, path: &str) -> Result<()> {
        let url = format!(
            "http://{USER}:{PASSWORD}@127.0.0.1:{}{path}",
            self.node.port
        );
        self.browser.goto(&url).await?;
        Ok(())
    }

    async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.browser.screenshot().await?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    async fn js(&self, script: &str) -> Result<Value> {
        Ok(self.browser.execute(script, vec![]).await?)
    }

    /// Poll `check` until it answers `Some` (a real condition each time) or [`WAIT`] passes.
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + WAIT;
        let mut last_err = None;
        loop {
            match check().await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
            if Instant::now() > deadline {
                return Err(match last_err {
                    Some(e) => e.context(format!("timed out waiting for {what}")),
                    None => anyhow!("timed out after {WAIT:?} waiting for {what}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css`, once it contains `needle`.
    async fn until_text(&self, css: &str, needle: &str) -> Result<String> {
        let what = format!("`{css}` to contain `{needle}`");
        self.until(&what, || async {
            let found = self.browser.find_all(Locator::Css(css)).await?;
            for el in found {
                let text = el.text().await?;
                if text.contains(needle) {
                    return Ok(Some(text));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Click the first element matching `css`. The live updates re-render `<main>`, so an
    /// element found a moment ago can be gone: find it again until the click lands.
    async fn click(&self, css: &str) -> Result<()> {
        self.until(&format!("clicking `{css}`"), || async {
            self.browser.find(Locator::Css(css)).await?.click().await?;
            Ok(Some(()))
        })
        .await
    }

    /// Replace the value of the field matching `css` by typing `text` (then `then`, if any),
    /// finding the field again when a live update replaced it meanwhile.
    async fn type_into(&self, css: &str, text: &str, then: Option<Key>) -> Result<()> {
        self.until(&format!("typing into `{css}`"), || async {
            let field = self.browser.find(Locator::Css(css)).await?;
            field.clear().await?;
            field.send_keys(text).await?;
            if let Some(k) = then {
                field.send_keys(&k.to_string()).await?;
            }
            Ok(Some(()))
        })
        .await
    }

    async fn count(&self, css: &str) -> Result<usize> {
        Ok(self.browser.find_all(Locator::Css(css)).await?.len())
    }

    /// Press and release one key in whatever has the focus.
    async fn press(&self, key: Key) -> Result<()> {
        let k: char = key.into();
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        self.browser.perform_actions(keys).await?;
        self.browser.release_actions().await?;
        Ok(())
    }

    /// Move the mouse onto the centre of the first element matching `css`.
    async fn hover(&self, css: &str) -> Result<()> {
        self.until(&format!("hovering `{css}`"), || async {
            let element = self.browser.find(Locator::Css(css)).await?;
            let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            });
            self.browser.perform_actions(mouse).await?;
            Ok(Some(()))
        })
        .await
    }

    /// Set the theme the pages start in (kept in localStorage) and reload.
    async fn theme(&self, theme: &str) -> Result<()> {
        self.js(&format!(
            "localStorage.setItem('openfero-theme', '{theme}');"
        ))
        .await?;
        self.browser.refresh().await?;
        let now = "return document.documentElement.dataset.theme;";
        self.until(&format!("the {theme} theme"), || async {
            Ok((self.js(now).await? == json!(theme)).then_some(()))
        })
        .await
    }

    /// `tag#id.class[name]` of the focused element, for reading test failures.
    async fn focused(&self) -> Result<String> {
        let v = self
            .js(
                "var e = document.activeElement; if (!e) return ''; \
                 return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + \
                 (e.name ? '[name=' + e.name + ']' : '') + \
                 (e.closest('details.card') ? ' in card ' + e.closest('details.card').dataset.alertname : '');",
            )
            .await?;
        Ok(v.as_str().unwrap_or("").to_string())
    }

    async fn post_alert(&self, alertname: &str, pod: &str, status: &str) -> Result<Value> {
        let r = self
            .http
            .post(self.url("/alerts"))
            .json(&webhook(alertname, pod, status, "2026-03-01T00:00:00Z"))
            .send()
            .await?;
        ensure!(r.status().is_success(), "POST /alerts: {}", r.status());
        Ok(r.json().await?)
    }

    /// Run one named step; on failure save the page as `failure-<name>.png` and say where.
    async fn step<F, Fut>(&self, name: &str, f: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let started = Instant::now();
        if let Err(e) = f().await {
            let slug: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let shot = match self.screenshot(&format!("failure-{slug}")).await {
                Ok(p) => p.display().to_string(),
                Err(se) => format!("(no screenshot: {se:#})"),
            };
            let url = self
                .browser
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            // Ends the browser (chromedriver's child) before the guards kill chromedriver.
            if let Err(ce) = self.browser.clone().close().await {
                eprintln!("closing the browser session: {ce}");
            }
            panic!(
                "browser step `{name}` failed at {url}: {e:#}\nscreenshot of the failing page: {shot}\n\
                 --- openfero log ---\n{}",
                self.node.guard.log_tail()
            );
        }
        println!("browser step `{name}`: ok in {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_walks_through_the_ui() {
    if browser_missing().is_some() {
        return;
    }
    let s = Session::start().await;

    s.step(
        "the page's own requests need no credentials of their own",
        || async {
            // Before signing in, a request from the page without credentials is refused.
            s.browser.goto(&s.url("/healthz")).await?;
            let status = s
                .js("return fetch('/api/alerts', {credentials: 'omit'}).then(r => r.status);")
                .await?;
            ensure!(status == json!(401), "anonymous fetch: {status}");
            Ok(())
        },
    )
    .await;

    s.step("dashboard loads and goes live", || async {
        // Start from a known theme: light.
        s.goto("/").await?;
        s.js("localStorage.setItem('openfero-theme', 'light');")
            .await?;
        s.browser.refresh().await?;
        ensure!(s.browser.title().await?.contains("Alerts"), "title");
        s.until_text("#live", "Live").await?;
        s.until_text("p.empty", "No alerts match.").await?;
        ensure!(s.count(".chart svg").await? == 1, "the 24 h chart");
        Ok(())
    })
    .await;

    s.step(
        "an alert posted through the API appears without a reload",
        || async {
            s.js("window.__sameDocument = true;").await?;
            s.post_alert("DiskFull", "db-1", "firing").await?;
            s.until_text("details.card[data-alertname='DiskFull']", "pod=db-1")
                .await?;
            let same = s.js("return window.__sameDocument === true;").await?;
            ensure!(same == json!(true), "the page was reloaded");
            // The matched remediation runs (local executor) and its state arrives live too.
            s.until_text(
                "details.card[data-alertname='DiskFull'] a.state",
                "succeeded",
            )
            .await?;
            s.post_alert("HighLatency", "web-1", "firing").await?;
            s.post_alert("HighLatency", "web-2", "resolved").await?;
            s.until_text("details.card[data-alertname='HighLatency']", "pod=web-2")
                .await?;
            s.until_text("#alert-count", "3 alerts").await?;
            Ok(())
        },
    )
    .await;

    s.step("light dashboard screenshot", || async {
        s.screenshot("dashboard-light").await.map(|_| ())
    })
    .await;

    s.step("the chart shows a bar's numbers on hover", || async {
        ensure!(
            s.count(".chart g.bar > title").await? == 0,
            "with JS the titles become the tooltip (no second, native one)"
        );
        // The current hour's alerts bar: the last but one group (the remediations bar is last).
        s.hover(".chart g.bar[data-kind='alerts']:nth-last-of-type(2) rect.hit")
            .await?;
        let tip = s
            .until("the tooltip", || async {
                let v = s
                    .js("var t = document.querySelector('.chart-tip'); \
                         return t && !t.hidden ? t.textContent : null;")
                    .await?;
                Ok(v.as_str().map(str::to_string))
            })
            .await?;
        let expected = s
            .js("return document.querySelector(\".chart g.bar.hover\").getAttribute('data-tip');")
            .await?;
        ensure!(
            expected == json!(tip),
            "the hovered bar's numbers: {tip} vs {expected}"
        );
        ensure!(
            tip.starts_with("alerts ") && tip.contains(" UTC: ") && tip.contains(" firing, "),
            "{tip}"
        );
        s.screenshot("chart-hover").await?;
        s.hover("form.filters button[type='submit']").await?;
        s.until("the tooltip to go", || async {
            let hidden = s
                .js("return document.querySelector('.chart-tip').hidden;")
                .await?;
            Ok((hidden == json!(true)).then_some(()))
        })
        .await
    })
    .await;

    s.step("search and filters narrow the list", || async {
        s.type_into("form.filters input[name='q']", "web-2", Some(Key::Enter))
            .await?;
        s.until("the search to narrow the list to web-2", || async {
            let n = s.count("li.alert").await?;
            let text = s.browser.find(Locator::Css("main")).await?.text().await?;
            Ok((n == 1 && text.contains("pod=web-2")).then_some(()))
        })
        .await?;
        let url = s.browser.current_url().await?;
        ensure!(
            url.as_str().contains("q=web-2"),
            "the search is in the URL: {url}"
        );

        s.goto("/").await?;
        s.until("choosing the status filter", || async {
            s.browser
                .find(Locator::Css("form.filters select[name='status']"))
                .await?
                .select_by_value("firing")
                .await?;
            Ok(Some(()))
        })
        .await?;
        s.click("form.filters button[type='submit']").await?;
        s.until(
            "the status filter to keep the two firing alerts",
            || async {
                let n = s.count("li.alert").await?;
                let resolved = s.count("li.alert.resolved").await?;
                Ok((n == 2 && resolved == 0).then_some(()))
            },
        )
        .await?;
        let selected = s
            .js("return document.querySelector(\"select[name='status']\").value;")
            .await?;
        ensure!(
            selected == json!("firing"),
            "the form shows the filter: {selected}"
        );
        Ok(())
    })
    .await;

    s.step("dark mode toggles and persists across a reload", || async {
        s.goto("/").await?;
        s.until_text("#live", "Live").await?;
        let theme = "return document.documentElement.dataset.theme;";
        ensure!(s.js(theme).await? == json!("light"), "starts light");
        s.click("#theme-toggle").await?;
        ensure!(s.js(theme).await? == json!("dark"), "toggled to dark");
        s.browser.refresh().await?;
        s.until("the page to load again", || async {
            Ok((s.count("#live").await? == 1).then_some(()))
        })
        .await?;
        ensure!(s.js(theme).await? == json!("dark"), "dark after a reload");
        let bg = s
            .js("return getComputedStyle(document.body).backgroundColor;")
            .await?;
        ensure!(bg == json!("rgb(20, 20, 24)"), "dark background: {bg}");
        s.until_text("#live", "Live").await?;
        s.screenshot("dashboard-dark").await?;
        s.click("#theme-toggle").await?;
        ensure!(s.js(theme).await? == json!("light"), "back to light");
        Ok(())
    })
    .await;

    s.step(
        "keyboard reaches the filters and toggles a card",
        || async {
            s.goto("/?alertname=DiskFull").await?;
            s.until_text("details.card[data-alertname='DiskFull']", "db-1")
                .await?;
            s.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
                .await?;
            let mut seen = Vec::new();
            let mut reached_search = false;
            let mut on_summary = false;
            for _ in 0..40 {
                s.press(Key::Tab).await?;
                let f = s.focused().await?;
                reached_search |= f.contains("[name=q]");
                seen.push(f.clone());
                if f.starts_with("summary") && f.contains("in card DiskFull") {
                    on_summary = true;
                    break;
                }
            }
            ensure!(
                reached_search,
                "Tab never reached the search field: {seen:?}"
            );
            ensure!(on_summary, "Tab never reached the card's summary: {seen:?}");
            let open =
                "return document.querySelector(\"details.card[data-alertname='DiskFull']\").open;";
            ensure!(s.js(open).await? == json!(true), "cards start open");
            s.press(Key::Enter).await?;
            ensure!(s.js(open).await? == json!(false), "Enter closes the card");
            s.press(Key::Enter).await?;
            ensure!(s.js(open).await? == json!(true), "Enter opens it again");
            Ok(())
        },
    )
    .await;

    s.step("remediation detail page renders its timeline", || async {
        s.goto("/").await?;
        s.click("details.card[data-alertname='DiskFull'] a.state")
            .await?;
        s.until_text("h1", "Remediation").await?;
        ensure!(
            s.browser
                .current_url()
                .await?
                .path()
                .starts_with("/remediations/"),
            "on the detail page"
        );
        s.until_text("ol.timeline", "succeeded").await?;
        let timeline = s
            .browser
            .find(Locator::Css("ol.timeline"))
            .await?
            .text()
            .await?;
        for step in ["received", "matched", "running"] {
            ensure!(
                timeline.contains(step),
                "timeline lacks `{step}`: {timeline}"
            );
        }
        s.until_text("pre.output", "remediating").await?;
        s.screenshot("remediation").await.map(|_| ())
    })
    .await;

    s.step("cluster page renders and updates live", || async {
        s.goto("/cluster").await?;
        s.until_text("table.nodes", "leader").await?;
        s.until_text("#live", "Live").await?;
        let applied = |v: Value| v.as_str().and_then(|t| t.trim().parse::<u64>().ok());
        let before = applied(
            s.js("return document.getElementById('cluster-applied').textContent;")
                .await?,
        )
        .context("applied index on the page")?;
        s.js("window.__sameDocument = true;").await?;
        s.post_alert("ClusterTick", "c-1", "firing").await?;
        s.until("the applied index to move on the page", || async {
            let now = applied(
                s.js("return document.getElementById('cluster-applied').textContent;")
                    .await?,
            );
            Ok(now.filter(|n| *n > before).map(|_| ()))
        })
        .await?;
        ensure!(
            s.js("return window.__sameDocument === true;").await? == json!(true),
            "no reload"
        );
        let lag = s
            .browser
            .find(Locator::Css("table.nodes td.lag"))
            .await?
            .text()
            .await?;
        ensure!(lag.trim().parse::<u64>().is_ok(), "a numeric lag: {lag}");
        s.screenshot("cluster").await.map(|_| ())
    })
    .await;

    s.step(
        "try-it form shows the operarius and the rendered Job",
        || async {
            s.goto("/operarios").await?;
            s.until_text("main", "default/fix-disk").await?;
            ensure!(
                s.count("#live").await? == 0,
                "the form page does not re-render itself"
            );
            let sample = s
                .js("return document.getElementById('try-payload').value;")
                .await?;
            ensure!(
                sample.as_str().is_some_and(|t| t.contains("DiskFull")),
                "sample payload: {sample}"
            );
            let payload =
                webhook("DiskFull", "db-42", "firing", "2026-03-02T00:00:00Z").to_string();
            s.type_into("#try-payload", &payload, None).await?;
            s.click("#try-submit").await?;
            s.until_text("#try-result", "runs Job").await?;
            let result = s
                .browser
                .find(Locator::Css("#try-result"))
                .await?
                .text()
                .await?;
            ensure!(result.contains("default/fix-disk"), "{result}");
            ensure!(
                result.contains("echo db-42 >>"),
                "the rendered command: {result}"
            );
            s.screenshot("try-it").await?;

            s.type_into("#try-payload", "{\"status\": \"firing\"", None)
                .await?;
            s.click("#try-submit").await?;
            s.until_text("#try-error", "Cannot evaluate this payload")
                .await?;
            Ok(())
        },
    )
    .await;

    s.step("the try-it evaluation left nothing behind", || async {
        let alerts: Vec<Value> = s
            .http
            .get(s.url("/api/alerts?q=db-42"))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await?
            .json()
            .await?;
        if !alerts.is_empty() {
            bail!("the try-it alert was recorded: {alerts:?}");
        }
        Ok(())
    })
    .await;

    s.step(
        "operarios table shows the rule, its executions and last Job, light and dark",
        || async {
            s.goto("/operarios").await?;
            let row = "table.rules tr[data-operarius='default/fix-disk']";
            s.until_text(row, "busybox").await?;
            let executions = s
                .browser
                .find(Locator::Css(&format!("{row} td.executions")))
                .await?
                .text()
                .await?;
            ensure!(executions.trim() == "1", "DiskFull ran once: {executions}");
            s.until_text(&format!("{row} td.last-job"), "succeeded")
                .await?;
            s.until_text(&format!("{row} td.status"), "enabled").await?;
            let long = "table.rules tr[data-operarius='storage-operations/rehearse-the-volume-cleanup-before-enforcing-it']";
            s.until_text(&format!("{long} td.status"), "mode dry-run")
                .await?;
            s.until_text(&format!("{long} td.status"), "approval required")
                .await?;
            s.until_text(&format!("{long} td.last-job"), "never run")
                .await?;
            let overflow = s
                .js("var t = document.querySelector('table.rules'); \
                     return t.parentElement.scrollWidth - t.parentElement.clientWidth;")
                .await?;
            ensure!(
                overflow == json!(0),
                "long names wrap inside the table at 1280 px: {overflow} px too wide"
            );
            s.screenshot("operarios-light").await?;
            s.theme("dark").await?;
            s.until_text(row, "busybox").await?;
            s.screenshot("operarios-dark").await?;
            s.theme("light").await?;
            s.click(&format!("{row} td.last-job a")).await?;
            s.until_text("h1", "Remediation").await?;
            s.until_text("h1 .state", "succeeded").await?;
            Ok(())
        },
    )
    .await;

    if let Err(e) = s.browser.clone().close().await {
        eprintln!("closing the browser session: {e}");
    }
}
