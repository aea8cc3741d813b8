// The console in a real browser (Debian's Chromium, headless) against a real
// `hub serve` on SQLite and the FreightOps stand-in: each role's main path,
// as its users walk it. Screenshots of each role's main page are saved
// (target/console-screenshots/, or CONSOLE_SCREENSHOTS_DIR).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { FreightOps, KEYS, accessibilityViolations, apiClient, freePort, launchBrowser, screenshotPath, signedIn, startHub, until } from "./harness.mjs";

const field = (page, pointer) => page.locator(`[data-pointer="${pointer}"]:is(input, select, textarea)`);
const fieldBox = (page, pointer) => page.locator(`div.field[data-pointer="${pointer}"]`);
const navLink = (page, name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });

describe("the web console", { timeout: 300000 }, () => {
  let ops;
  let hub;
  let browser;
  const sessions = [];
  let acmeOrderId;
  let reviewOrderId;

  before(async () => {
    ops = new FreightOps(await freePort());
    await ops.start();
    hub = await startHub({ opsPort: ops.port });
    browser = await launchBrowser();
  });

  after(async () => {
    // No page may have logged an error or a CSP violation, and no request
    // may have carried a key in its URL.
    for (const session of sessions) {
      assert.deepEqual(session.problems, [], "console errors or CSP violations on a page");
      for (const url of session.urls) {
        for (const key of Object.values(KEYS)) assert.ok(!url.includes(key), `a key travelled in a URL: ${url}`);
      }
    }
    await browser?.close();
    await hub?.stop();
    await ops?.stop();
  });

  async function as(key, options) {
    const session = await signedIn(browser, hub, key, options);
    sessions.push(session);
    return session;
  }

  it("refuses a wrong key with the hub's 401 message and keeps nothing", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${hub.url}/`);
    await page.getByLabel("API key").fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    const error = page.locator("#signin-error");
    await error.waitFor({ state: "visible" });
    assert.match(await error.textContent(), /refused this key/);
    assert.equal(await page.getByLabel("API key").getAttribute("aria-invalid"), "true");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await context.close();
  });

  it("sends a user whose key was revoked back to sign-in with the hub's message", async () => {
    const created = JSON.parse(hub.cli(["keys", "create", "--principal", "initech-portal", "--role", "customer", "--tenant", "initech", "--json"]));
    const session = await as(created.key);
    const { page } = session;
    assert.match(await page.locator("#whoami").textContent(), /initech-portal.*initech/s);
    hub.cli(["keys", "revoke", created.id]);
    // Whatever the page asks next (the view it is loading, or this one) meets the 401.
    await page.evaluate(() => {
      location.hash = "#/subscriptions";
    });
    const error = page.locator("#signin-error");
    await error.waitFor({ state: "visible" });
    assert.notEqual((await error.textContent()).trim(), "");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("order-hub.api-key")), null, "the revoked key is forgotten");
    // The key itself never travelled in a URL either.
    assert.ok(session.urls.every((url) => !url.includes(created.key)));
  });

  it("calls only paths of the public API document", async () => {
    const { readdirSync, readFileSync, statSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { REPO } = await import("./harness.mjs");
    const document = await (await fetch(`${hub.url}/v1/openapi.json`)).json();
    // "/v1/orders/{id}" → a regex matching any value in each {parameter}.
    const documented = Object.keys(document.paths).map((path) => new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`));
    const walk = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith(".js") ? [join(dir, n)] : []));
    const called = new Set();
    for (const file of walk(join(REPO, "kernel/console/assets"))) {
      for (const [, path] of readFileSync(file, "utf8").matchAll(/["`](\/v1\/[^"`?]*)["`]/g)) {
        called.add(path.replace(/\$\{[^}]+\}/g, "X"));
      }
    }
    assert.ok(called.size >= 20, `found the console's API calls (${called.size})`);
    const undocumented = [...called].filter((path) => !documented.some((re) => re.test(path)));
    assert.deepEqual(undocumented, [], "paths the console calls that the API document lacks");
  });

  it("serves the page with a console-grade security header set", async () => {
    const response = await fetch(`${hub.url}/`);
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  });

  it("lets a customer fill the freight form with messy values, fix what the hub flags, submit once, and watch it reach accepted live", async () => {
    const { page } = await as(KEYS.acme);
    assert.match(await page.locator("#whoami").textContent(), /acme-portal.*Customer.*acme/s);
    // A customer's navigation has no staff pages.
    assert.equal(await navLink(page, "Review queue").count(), 0);

    await navLink(page, "New order").click();
    await page.getByRole("link", { name: "Freight forwarding booking" }).click();
    await page.locator("h1", { hasText: "Freight forwarding booking" }).waitFor();

    const reference = `WEB-${Date.now()}`;
    await field(page, "/customer_reference").fill(reference);
    await field(page, "/shipper/name").fill("宁波海天贸易有限公司");
    await field(page, "/shipper/address").fill("浙江省宁波市北仑区明州路1号");
    await field(page, "/shipper/phone").fill("138 1234 5678");
    await field(page, "/consignee/name").fill("Hamburg Foods GmbH");
    await field(page, "/consignee/address").fill("Großer Grasbrook 9, 20457 Hamburg");
    await field(page, "/origin_port").fill("cn sha");
    await field(page, "/destination_port").fill("de ham");
    await field(page, "/service_mode").selectOption("FCL");
    await field(page, "/incoterm").selectOption("FOB");
    await field(page, "/cargo_ready_date").fill("2026/11/3");
    await field(page, "/container_count").fill("２");
    await field(page, "/cargo_lines/0/description").fill("冷冻虾仁");
    await field(page, "/cargo_lines/0/packages").fill("forty");
    await field(page, "/cargo_lines/0/gross_weight_kg").fill("1200");
    await page.getByLabel("Unit of Gross weight (kg)").selectOption("lb");
    // A second cargo line, added and removed again.
    await page.getByRole("button", { name: "Add a line" }).click();
    await field(page, "/cargo_lines/1/description").waitFor();
    await page.locator('li.item[data-pointer="/cargo_lines/1"]').getByRole("button", { name: "Remove" }).click();
    assert.equal(await field(page, "/cargo_lines/1/description").count(), 0);
    // The remaining line kept its values, amount and unit apart.
    assert.equal(await field(page, "/cargo_lines/0/gross_weight_kg").inputValue(), "1200");
    assert.equal(await page.getByLabel("Unit of Gross weight (kg)").inputValue(), "lb");
    // An optional party is folded until wanted; its required fields apply only then.
    assert.equal(await field(page, "/notify_party/name").isVisible(), false);
    await page.getByRole("button", { name: "Add Notify party" }).click();
    await field(page, "/notify_party/name").fill("青岛通知方");
    await field(page, "/notify_party/address").focus();
    await field(page, "/notify_party/address").blur();
    await fieldBox(page, "/notify_party/address").locator(".field-error").waitFor({ state: "visible" });
    await page.getByRole("button", { name: "Remove Notify party" }).click();
    await fieldBox(page, "/notify_party/address").locator(".field-error").waitFor({ state: "hidden" });
    await field(page, "/cargo_lines/0/hs_code").fill("0306"); // too short: 6 to 10 digits
    await field(page, "/cargo_lines/0/hs_code").blur();

    // Problems at their fields, tied to the inputs for screen readers.
    const packages = fieldBox(page, "/cargo_lines/0/packages");
    await packages.locator(".field-error").waitFor({ state: "visible" });
    assert.equal(await field(page, "/cargo_lines/0/packages").getAttribute("aria-invalid"), "true");
    const describedBy = await field(page, "/cargo_lines/0/packages").getAttribute("aria-describedby");
    const errorId = await packages.locator(".field-error").getAttribute("id");
    assert.ok(describedBy.split(" ").includes(errorId), "the error is announced with its input");
    await fieldBox(page, "/cargo_lines/0/hs_code").locator(".field-error").waitFor({ state: "visible" });
    // What the hub made of the messy values, beside what was typed.
    await page.locator('div.field[data-pointer="/cargo_ready_date"] .normalized', { hasText: "2026-11-03" }).waitFor();
    await page.locator('div.field[data-pointer="/cargo_lines/0/gross_weight_kg"] .normalized', { hasText: "544.311 kg" }).waitFor();
    await page.locator('div.field[data-pointer="/origin_port"] .normalized', { hasText: "CNSHA" }).waitFor();
    await page.locator('div.field[data-pointer="/shipper/phone"] .normalized', { hasText: "+8613812345678" }).waitFor();
    await page.locator(".outcome-invalid").waitFor();
    await page.screenshot({ path: screenshotPath("customer-form-errors.png"), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), [], "WCAG A/AA violations (axe-core) on customer-form-errors.png");

    // Fix them; the verdict turns valid.
    await field(page, "/cargo_lines/0/packages").fill("40");
    await field(page, "/cargo_lines/0/hs_code").fill("030617");
    await field(page, "/cargo_lines/0/hs_code").blur();
    await page.locator(".outcome-valid").waitFor();
    assert.equal(await page.locator("div.field.has-error").count(), 0);

    // A double click sends one order (one Idempotency-Key per form).
    await page.getByRole("button", { name: "Submit order" }).dblclick();
    await page.waitForURL(/#\/orders\/[0-9a-f-]+$/);
    acmeOrderId = decodeURIComponent(page.url().split("#/orders/")[1]);
    await page.locator('#timeline li[data-kind="accepted"]').waitFor({ timeout: 30000 });
    await page.locator('#order-status [data-status="accepted"]').waitFor();
    await page.locator("#live-state[data-state='live']").waitFor();
    // Chinese text intact from the form to the page, through the hub.
    await page.locator(".value-map dd", { hasText: "宁波海天贸易有限公司" }).first().waitFor();
    assert.match(await page.locator('#timeline li[data-kind="accepted"]').textContent(), /FO-\d+/);
    await page.screenshot({ path: screenshotPath("order-timeline-live.png"), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), [], "WCAG A/AA violations (axe-core) on order-timeline-live.png");

    const api = apiClient(hub.url, KEYS.acme);
    const listed = await api("GET", `/v1/orders?reference=${encodeURIComponent(reference)}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.orders.length, 1, "a double click made one order");
    assert.equal((await ops.booked(acmeOrderId)).filter((b) => !b.repeat).length, 1, "the OPS booked it once");
  });

  it("shows the form in Chinese with the schema's own Chinese labels", async () => {
    const { page } = await as(KEYS.acme, { lang: "zh" });
    await page.goto(`${hub.url}/#/new/freight-booking`);
    await page.locator("legend", { hasText: "发货人" }).waitFor();
    await page.locator("label", { hasText: "起运港" }).waitFor();
    assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
    await field(page, "/cargo_ready_date").fill("2026年11月3日");
    await field(page, "/cargo_ready_date").blur();
    await page.locator('div.field[data-pointer="/cargo_ready_date"] .normalized', { hasText: "2026-11-03" }).waitFor();
    await page.screenshot({ path: screenshotPath("customer-form-zh.png"), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), [], "WCAG A/AA violations (axe-core) on customer-form-zh.png");
  });

  it("sends a fixable order to review; a reviewer corrects it at the desk by keyboard; the customer's page follows without a reload", async () => {
    const customer = await as(KEYS.acme);
    const page = customer.page;
    await page.goto(`${hub.url}/#/new/freight-booking`);
    const reference = `REVIEW-${Date.now()}`;
    await field(page, "/customer_reference").fill(reference);
    await field(page, "/shipper/name").fill("上海浦江食品有限公司");
    await field(page, "/shipper/address").fill("上海市浦东新区张杨路500号");
    await field(page, "/consignee/name").fill("Rotterdam Foods B.V.");
    await field(page, "/consignee/address").fill("Waalhaven Z.z. 19, Rotterdam");
    await field(page, "/origin_port").fill("CNZZZ"); // no such port: staff decide
    await field(page, "/destination_port").fill("nlrtm");
    await field(page, "/service_mode").selectOption("LCL");
    await field(page, "/incoterm").selectOption("EXW");
    await field(page, "/cargo_ready_date").fill("2026-11-20");
    await field(page, "/cargo_lines/0/description").fill("冷冻虾仁");
    await field(page, "/cargo_lines/0/packages").fill("40");
    await field(page, "/cargo_lines/0/gross_weight_kg").fill("1200");
    await field(page, "/cargo_lines/0/volume_m3").fill("12 dm3"); // unknown unit: blocks until fixed
    await field(page, "/cargo_lines/0/volume_m3").blur();
    await fieldBox(page, "/cargo_lines/0/volume_m3").locator(".field-error").waitFor({ state: "visible" });
    await field(page, "/cargo_lines/0/volume_m3").fill("");
    await field(page, "/cargo_lines/0/volume_m3").blur();
    await page.locator(".outcome-review").waitFor();
    await fieldBox(page, "/origin_port").locator(".field-error.warning").waitFor();
    await page.getByRole("button", { name: "Submit order" }).click();
    await page.waitForURL(/#\/orders\/[0-9a-f-]+$/);
    reviewOrderId = decodeURIComponent(page.url().split("#/orders/")[1]);
    await page.locator('#order-status [data-status="needs-review"]').waitFor();
    await page.locator("#live-state[data-state='live']").waitFor();
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    // A second staff member opens the same order meanwhile.
    const other = await as(KEYS.operator);
    await other.page.goto(`${hub.url}/#/review/${reviewOrderId}`);
    await other.page.locator("#release").waitFor();

    // The reviewer: queue → desk, then keyboard only.
    const { page: desk } = await as(KEYS.reviewer);
    await navLink(desk, "Review queue").click();
    const row = desk.locator(`#review-queue tr[data-order-id="${reviewOrderId}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /unknown-code|Unknown code/);
    await desk.locator("#review-code").selectOption("unknown-code");
    await row.waitFor();
    await row.getByRole("link").focus();
    await desk.keyboard.press("Enter");
    await desk.locator("#release").waitFor();
    // The desk puts the focus on the first open problem's field.
    assert.equal(await desk.evaluate(() => document.activeElement?.dataset.pointer), "/origin_port");
    await desk.locator(".submission", { hasText: "CNZZZ" }).waitFor();
    await desk.screenshot({ path: screenshotPath("review-desk.png"), fullPage: true });
    assert.deepEqual(await accessibilityViolations(desk), [], "WCAG A/AA violations (axe-core) on review-desk.png");

    // A partial release: an emptied required field is refused at that field.
    await field(desk, "/destination_port").fill("");
    await field(desk, "/origin_port").focus();
    await desk.keyboard.press("Control+A");
    await desk.keyboard.type("CNNGB");
    await desk.locator("#release").focus();
    await desk.keyboard.press("Enter");
    await fieldBox(desk, "/destination_port").locator(".field-error").waitFor({ state: "visible" });
    await desk.locator("#desk-message .notice-error", { hasText: "Still" }).waitFor();

    await field(desk, "/destination_port").focus();
    await desk.keyboard.type("NLRTM");
    // The desk checks corrections as they are typed and shows the patch it will send.
    await desk.locator("#open-problems .outcome-valid").waitFor();
    assert.deepEqual(JSON.parse(await desk.locator("#patch-preview").textContent()), { origin_port: "CNNGB" });
    await desk.locator("#review-note").focus();
    await desk.keyboard.type("客户电话确认：宁波 Ningbo");
    await desk.locator("#release").focus();
    await desk.keyboard.press("Enter");
    await desk.waitForURL(new RegExp(`#/orders/${reviewOrderId}$`));

    // The customer's page moved by itself: reviewed, then accepted by the OPS.
    await page.locator('#timeline li[data-kind="reviewed"]').waitFor({ timeout: 30000 });
    await page.locator('#order-status [data-status="accepted"]').waitFor({ timeout: 30000 });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
    // Customers see the customer-facing messages, not the staff's internal note.
    assert.doesNotMatch(await page.locator("#timeline").textContent(), /客户电话确认/);

    // The other staff member's release now meets the first decision, said plainly.
    await other.page.locator("#release").click();
    await other.page.locator("#desk-message .notice-error", { hasText: /Released by reviewer-li at \d{4}-/ }).waitFor();
  });

  it("shows another tenant none of it, and pages through its own orders", async () => {
    const { page } = await as(KEYS.globex);
    await navLink(page, "My orders").click();
    await page.locator(".table-status", { hasText: "No orders match." }).waitFor();
    assert.equal(await page.locator(`tr[data-order-id="${acmeOrderId}"]`).count(), 0);

    // 23 orders of its own: a page of 20, then the rest behind "Show more".
    const api = apiClient(hub.url, KEYS.globex);
    const { readFileSync } = await import("node:fs");
    const order = JSON.parse(readFileSync(new URL("../../examples/orders/freight-booking/messy-fcl.input.json", import.meta.url), "utf8"));
    const mine = [];
    for (let i = 0; i < 23; i += 1) {
      const answer = await api("POST", "/v1/orders/freight-booking", { ...order, booking_ref: `GLOBEX-${i}` });
      assert.equal(answer.status, 202);
      mine.push(answer.body.order_id);
    }
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator(".table-status", { hasText: "20 shown" }).waitFor();
    await page.getByRole("button", { name: "Show more" }).click();
    await page.locator(".table-status", { hasText: "23 shown" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Show more" }).isVisible(), false);
    assert.equal(await page.locator(`tr[data-order-id="${acmeOrderId}"]`).count(), 0);
    // Delivered before the next test takes the OPS down.
    await until(
      async () => (await api("GET", "/v1/orders?status=accepted&limit=50")).body.orders.length === mine.length,
      30000,
      "globex's orders accepted",
    );
    await page.goto(`${hub.url}/#/orders/${acmeOrderId}`);
    await page.locator("h1", { hasText: "Not found" }).waitFor();
    await page.goto(`${hub.url}/#/review`);
    await page.locator("h1", { hasText: "Not allowed" }).waitFor();
  });

  it("lets an operator watch the breaker open while the OPS is down, then replay the dead letter from the page", async () => {
    const { page } = await as(KEYS.operator);
    await navLink(page, "Targets").click();
    await page.locator('#targets tr[data-target="freight-ops"][data-breaker="closed"]').waitFor();

    await ops.stop();
    const api = apiClient(hub.url, KEYS.acme);
    const order = (await import("node:fs")).readFileSync(new URL("../../examples/orders/freight-booking/messy-fcl.input.json", import.meta.url), "utf8");
    const submitted = await api("POST", "/v1/orders/freight-booking", { ...JSON.parse(order), booking_ref: `DOWN-${Date.now()}` });
    assert.equal(submitted.status, 202);
    const orderId = submitted.body.order_id;

    // The targets page refreshes by itself: the breaker opens.
    await page.locator('#targets tr[data-target="freight-ops"] [data-breaker="open"]').waitFor({ timeout: 20000 });
    await page.screenshot({ path: screenshotPath("operator-targets.png"), fullPage: true });
    assert.deepEqual(await accessibilityViolations(page), [], "WCAG A/AA violations (axe-core) on operator-targets.png");

    await ops.start();
    await navLink(page, "Dead letters").click();
    const letter = page.locator(`tr[data-order-id="${orderId}"]`);
    await letter.waitFor({ timeout: 20000 });
    await letter.getByRole("link").click();
    await page.locator("#attempts tbody tr").first().waitFor();
    assert.ok((await page.locator("#attempts tbody tr").count()) >= 2, "both failed attempts are listed");
    await page.getByRole("button", { name: "Replay" }).click();
    await page.locator(".notice-success", { hasText: "queued again" }).waitFor();

    // Delivered once the breaker lets a probe through.
    await until(async () => (await api("GET", `/v1/orders/${orderId}`)).body.status === "accepted", 30000, "replayed order accepted");
    await page.goto(`${hub.url}/#/orders/${orderId}`);
    await page.locator('#timeline li[data-kind="replayed"]').waitFor();
    await page.locator('#order-status [data-status="accepted"]').waitFor();

    // Two more letters while the OPS is down again, replayed by filter.
    await ops.stop();
    const more = [];
    for (const n of [1, 2]) {
      const answer = await api("POST", "/v1/orders/freight-booking", { ...JSON.parse(order), booking_ref: `DOWN-AGAIN-${n}-${Date.now()}` });
      assert.equal(answer.status, 202);
      more.push(answer.body.order_id);
    }
    await navLink(page, "Dead letters").click();
    for (const id of more) await page.locator(`tr[data-order-id="${id}"]`).waitFor({ timeout: 20000 });
    await ops.start();
    await page.getByLabel("Target").fill("freight-ops");
    await page.getByRole("button", { name: "Apply" }).click();
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByRole("button", { name: "Replay every letter matching the filter" }).click();
    await page.locator("#dlq-message .notice-success", { hasText: /2 matched, 2 replayed, 0 skipped/ }).waitFor();
    for (const id of more) {
      await until(async () => (await api("GET", `/v1/orders/${id}`)).body.status === "accepted", 30000, `order ${id} accepted after the bulk replay`);
    }
  });

  it("lets a customer list, create and delete its notification subscriptions", async () => {
    const { page } = await as(KEYS.acme);
    await navLink(page, "Notifications").click();
    await page.getByLabel("Endpoint URL").fill("ftp://example.com/hook");
    await page.getByRole("button", { name: "Create subscription" }).click();
    await page.locator("#sub-url-error").waitFor({ state: "visible" });
    assert.equal(await page.getByLabel("Endpoint URL").getAttribute("aria-invalid"), "true");

    await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/hooks/acme");
    await page.getByRole("button", { name: "Create subscription" }).click();
    await page.locator("code.secret", { hasText: /^whsec_/ }).waitFor();
    const row = page.locator("tr", { hasText: "http://127.0.0.1:9/hooks/acme" });
    await row.waitFor();
    page.once("dialog", (dialog) => dialog.accept());
    await row.getByRole("button", { name: "Delete" }).click();
    await page.locator("td", { hasText: "No subscriptions yet." }).waitFor();
  });

  it("lets an operator activate, roll back and install plugin versions, and read the audit log", async () => {
    const { page } = await as(KEYS.operator);
    await navLink(page, "Plugins").click();
    const row = page.locator('#plugins tr[data-plugin="rest-json"]');
    await row.locator("td strong", { hasText: "1.0.1" }).waitFor();
    await row.getByLabel("Version of rest-json").selectOption("1.0.0");
    await row.getByRole("button", { name: "Activate" }).click();
    await page.locator("#plugins-message .notice-success", { hasText: "rest-json now serves version 1.0.0" }).waitFor();
    await row.locator("td strong", { hasText: "1.0.0" }).waitFor();
    await row.getByRole("button", { name: "Roll back" }).click();
    await page.locator("#plugins-message .notice-success", { hasText: "rest-json now serves version 1.0.1" }).waitFor();
    hub.addPluginVersion("rest-json", "1.0.0", "1.0.2");
    await page.getByRole("button", { name: "Rescan plugin folder" }).click();
    await page.locator("#plugins-message .notice-success", { hasText: "rest-json@1.0.2" }).waitFor();
    await row.locator("td strong", { hasText: "1.0.2" }).waitFor();
    const served = await apiClient(hub.url, KEYS.operator)("GET", "/v1/plugins");
    assert.equal(served.body.plugins.find((p) => p.name === "rest-json").active, "1.0.2");
    await navLink(page, "Audit log").click();
    await page.locator("td code", { hasText: "subscription." }).first().waitFor();
    await navLink(page, "Replies").click();
    await page.locator("h2", { hasText: "Unmatched replies" }).waitFor();
  });
});
