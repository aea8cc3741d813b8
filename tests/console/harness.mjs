// What the console's browser tests run against: a real `hub serve` (the
// debug binary cargo built) on a fresh SQLite file, the FreightOps stand-in
// of the quick start (examples/ops-sim/freight_ops.py) on a free loopback
// port, and Debian's Chromium driven by playwright-core.
//
// Every wait here is for an event (a line the child printed, an HTTP
// answer, a DOM state through Playwright's auto-waiting), bounded in time.

import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS_DIR
  ? resolve(process.env.CONSOLE_SCREENSHOTS_DIR)
  : join(REPO, "target/console-screenshots");

export const KEYS = {
  acme: "demo-customer-acme",
  globex: "demo-customer-globex",
  reviewer: "demo-reviewer",
  operator: "demo-operator",
};

/** A free loopback port (bound, read, released). */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Every child still running, killed if this process ends without stopping them (a failed test, Ctrl-C). */
const children = new Set();
process.on("exit", () => children.forEach((child) => child.kill("SIGKILL")));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

/** Starts `command` and resolves once a line of its output matches `ready` (or fails after `ms`). */
function spawnUntil(command, args, { ready, ms = 60000, env = {}, cwd = REPO, name }) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  const output = [];
  const lines = [];
  const onLine = (listener) => lines.push(listener);
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buffered += chunk;
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        output.push(line);
        if (output.length > 400) output.shift();
        lines.forEach((listener) => listener(line));
      }
    });
  }
  const started = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not become ready in ${ms} ms:\n${output.join("\n")}`)), ms);
    onLine((line) => {
      if (ready.test(line)) {
        clearTimeout(timer);
        ok();
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output.join("\n")}`));
    });
  });
  return { child, started, output, onLine };
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once("exit", ok));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
  await exited;
  clearTimeout(timer);
}

/** The FreightOps stand-in; `stop()` and `start()` again on the same port. */
export class FreightOps {
  constructor(port) {
    this.port = port;
    this.bookings = [];
    this.waiting = [];
  }

  /** Resolves with the bookings of `key` once the stand-in has printed one (its output is read asynchronously). */
  booked(key, ms = 15000) {
    const found = () => this.bookings.filter((b) => b.key === key);
    if (found().length) return Promise.resolve(found());
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no booking for ${key} in ${ms} ms`)), ms);
      this.waiting.push(() => {
        if (!found().length) return false;
        clearTimeout(timer);
        ok(found());
        return true;
      });
    });
  }

  async start() {
    const run = spawnUntil("python3", ["-u", "examples/ops-sim/freight_ops.py", "--port", String(this.port)], {
      ready: /FreightOps stand-in on/,
      ms: 15000,
      name: "freight_ops.py",
    });
    run.onLine((line) => {
      const booked = /^(booked|repeat)\s+(FO-\d+)\s+key=(\S+)/.exec(line.trim());
      if (booked) {
        this.bookings.push({ repeat: booked[1] === "repeat", number: booked[2], key: booked[3] });
        this.waiting = this.waiting.filter((check) => !check());
      }
    });
    this.process = run.child;
    await run.started;
  }

  async stop() {
    if (this.process) await stopChild(this.process);
    this.process = null;
  }
}

/** A hub on its own port and SQLite file, with the freight target pointed at `opsPort`. */
export async function startHub({ opsPort }) {
  const dir = mkdtempSync(join(tmpdir(), "order-hub-console-"));
  const port = await freePort();
  // The reference plugins, with rest-json also as 1.0.1 (the same component
  // under a newer version) so the plugins page has something to activate
  // and roll back.
  const plugins = join(dir, "plugins");
  cpSync(join(REPO, "plugins/dist"), plugins, { recursive: true });
  addPluginVersion(plugins, "rest-json", "1.0.0", "1.0.1");
  const config = `
listen = "127.0.0.1:${port}"
database_url = "sqlite:${join(dir, "hub.db")}"
schemas_dir = "${join(REPO, "schemas")}"
log_format = "text"

# The demo keys, exactly as examples/hub.toml (the embedded default) has them.
${demoPrincipals()}

[plugins]
dir = "${plugins}"
cache_dir = "${join(dir, "cache")}"

# Webhook endpoints on loopback over plain HTTP, for the subscriptions page.
[webhooks]
allow_private_targets = true
allow_insecure_http = true

[dispatch]
idle_poll_ms = 200

# Two quick attempts, then a dead letter; two failures open the breaker.
[targets.freight-ops]
plugin = "rest-json"
grants = ["http", "config", "log"]
settings = { bookings_path = "bookings" }
http = { base_url = "http://127.0.0.1:${opsPort}/api/", allowed_paths = ["bookings", "bookings/*"], timeout_ms = 5000 }
retry = { max_attempts = 2, initial_backoff_ms = 200, max_backoff_ms = 400 }
breaker = { failure_threshold = 2, open_ms = 6000 }

[[routes]]
name = "every freight booking"
line = "freight-booking"
target = "freight-ops"
`;
  const path = join(dir, "hub.toml");
  writeFileSync(path, config);
  const bin = process.env.HUB_BIN ? resolve(process.env.HUB_BIN) : join(REPO, "target/debug/hub");
  const run = spawnUntil(bin, ["serve", "--config", path], { ready: /order hub ready/, ms: 120000, name: "hub serve", env: { RUST_LOG: "info" } });
  await run.started;
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/readyz`)).ok, 60000, "hub /readyz");
  return {
    url,
    output: run.output,
    /** Installs `name` `version` (a copy of `from`) into the hub's plugin folder, for a rescan. */
    addPluginVersion: (name, from, version) => addPluginVersion(plugins, name, from, version),
    /** Runs `hub ARGS… --config <this hub's config>` (store-level commands: keys, dlq) and returns its stdout. */
    cli(args) {
      return execFileSync(bin, [...args, "--config", path], { cwd: REPO, encoding: "utf8" });
    },
    async stop() {
      await stopChild(run.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `[[principals]]` tables of examples/hub.toml: the demo keys the README documents (digests only). */
function demoPrincipals() {
  const example = readFileSync(join(REPO, "examples/hub.toml"), "utf8");
  const tables = example.match(/^\[\[principals\]\]\n(?:[a-z0-9_]+ = .*\n)+/gm) ?? [];
  if (tables.length < 4) throw new Error(`examples/hub.toml has ${tables.length} [[principals]] tables; the tests need the demo keys`);
  return tables.join("\n");
}

function addPluginVersion(plugins, name, from, version) {
  const target = join(plugins, name, version);
  cpSync(join(plugins, name, from), target, { recursive: true });
  const manifest = join(target, "plugin.toml");
  writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^version = ".*"$/m, `version = "${version}"`));
}

/** Retries `check` until it is true; for conditions outside the browser (an HTTP status). */
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${ms} ms${last ? `: ${last.message}` : ""}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** The hub's API, as a portal would call it (for set-up and for checking what the page claims). */
export function apiClient(base, key) {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, body: json, headers: response.headers };
  };
}

/** Debian's Chromium, headless, with the flags this closed network needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/**
 * A browser context (its own sessionStorage) signed in with `key`.
 * Collects console errors and CSP violations into `problems`, and every
 * request URL, so a test can check the key never travels in one.
 */
export async function signedIn(browser, hub, key, { lang = "en" } = {}) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: lang === "zh" ? "zh-CN" : "en-US" });
  await context.addInitScript((chosen) => localStorage.setItem("order-hub.lang", chosen), lang);
  const page = await context.newPage();
  const problems = [];
  const urls = [];
  // The API's 4xx answers are part of the tests (a 404 for another tenant's
  // order); a script error, a CSP violation or a missing asset is not.
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource/.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("response", (response) => {
    if (response.status() >= 400 && !new URL(response.url()).pathname.startsWith("/v1/")) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on("request", (request) => urls.push(request.url()));
  await page.goto(`${hub.url}/`);
  await page.getByLabel(lang === "zh" ? "API 密钥" : "API key").fill(key);
  await page.getByRole("button", { name: lang === "zh" ? "登录" : "Sign in" }).click();
  await page.locator("#whoami .principal").waitFor();
  return { context, page, problems, urls };
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}

const AXE = readFileSync(join(REPO, "tests/console/node_modules/axe-core/axe.min.js"), "utf8");

/**
 * The WCAG 2.1 A/AA rules of axe-core on the page as it is now; returns the
 * serious and critical violations (rule, impact, the elements it found).
 * Injected through the DevTools protocol, which the page's CSP does not
 * govern, so the page's own policy stays as strict as in production.
 */
export async function accessibilityViolations(page) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await globalThis.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => ({ rule: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}
