// The console's shell: sign-in, who is signed in, the navigation the role
// allows, and a hash router (#/orders/ID …) so the hub serves one page and
// every view is a bookmarkable address without the key in it.
//
// Views are modules exporting `async render(main, params, session)`; a view
// may return a function that stops what it started (streams, timers), run
// when the user navigates away.

import * as api from "./api.js";
import { h, replace, announce } from "./dom.js";
import { showFailure, afterMount } from "./ui.js";
import { t, lang, setLang, applyStaticText } from "./i18n.js";
import * as signin from "./views/signin.js";
import * as customer from "./views/customer.js";
import * as order from "./views/order.js";
import * as review from "./views/review.js";
import * as operator from "./views/operator.js";

/** Routes: pattern → view, and who may open it. */
const ROUTES = [
  { path: /^\/new$/, view: customer.chooseLine, may: "submit" },
  { path: /^\/new\/([^/]+)$/, view: customer.newOrder, may: "submit" },
  { path: /^\/orders$/, view: customer.orders },
  { path: /^\/orders\/([^/]+)$/, view: order.page },
  { path: /^\/subscriptions$/, view: customer.subscriptions, may: "subscribe" },
  { path: /^\/review$/, view: review.queue, may: "review" },
  { path: /^\/review\/([^/]+)$/, view: review.desk, may: "review" },
  { path: /^\/targets$/, view: operator.targets, may: "operate" },
  { path: /^\/dead-letters$/, view: operator.deadLetters, may: "operate" },
  { path: /^\/dead-letters\/([^/]+)$/, view: operator.deadLetter, may: "operate" },
  { path: /^\/plugins$/, view: operator.plugins, may: "operate" },
  { path: /^\/replies$/, view: operator.replies, may: "operate" },
  { path: /^\/audit$/, view: operator.audit, may: "operate" },
];

/** What each role sees in the navigation, in order. */
function navItems(me) {
  const items = [];
  if (me.may.submit) items.push(["#/new", "nav.new_order"]);
  items.push(["#/orders", me.role === "customer" ? "nav.my_orders" : "nav.orders"]);
  if (me.role === "customer" || me.may.operate) items.push(["#/subscriptions", "nav.subscriptions"]);
  if (me.may.review) items.push(["#/review", "nav.review"]);
  if (me.may.operate) {
    items.push(["#/targets", "nav.targets"], ["#/dead-letters", "nav.dead_letters"], ["#/plugins", "nav.plugins"]);
    items.push(["#/replies", "nav.replies"], ["#/audit", "nav.audit"]);
  }
  return items;
}

function homeOf(me) {
  if (me.role === "customer") return "#/orders";
  if (me.role === "reviewer") return "#/review";
  return "#/targets";
}

let session = null;
let stopView = null;
let navigations = 0;

function renderShell() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("whoami");
  const signout = document.getElementById("signout");
  applyStaticText();
  if (!session) {
    nav.replaceChildren();
    who.replaceChildren();
    signout.hidden = true;
    return;
  }
  const current = location.hash.split("?")[0];
  replace(
    nav,
    h(
      "ul",
      {},
      navItems(session).map(([href, key]) =>
        h("li", {}, h("a", { href, "aria-current": current === href || current.startsWith(`${href}/`) ? "page" : null }, t(key))),
      ),
    ),
  );
  replace(
    who,
    h("span", { class: "principal" }, session.id),
    " ",
    h("span", { class: `role role-${session.role}` }, t(`role.${session.role}`)),
    session.tenant ? h("span", { class: "tenant" }, ` · ${t("who.tenant")} ${session.tenant}`) : null,
  );
  signout.hidden = false;
}

async function route() {
  if (stopView) {
    stopView();
    stopView = null;
  }
  const main = document.getElementById("view");
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");

  if (!session && api.storedKey()) {
    try {
      session = await api.whoAmI();
    } catch {
      api.forgetKey();
      session = null;
    }
  }
  renderShell();
  if (!session) {
    navigations += 1;
    stopView = (await signin.render(main, { onSignedIn })) ?? null;
    return;
  }
  if (path === "/") {
    location.replace(homeOf(session));
    return;
  }
  const match = ROUTES.map((r) => ({ r, m: r.path.exec(path) })).find((x) => x.m);
  if (!match) {
    navigations += 1;
    replace(main, h("h1", {}, t("page.not_found")), h("p", {}, h("a", { href: homeOf(session) }, t("page.home"))));
    return;
  }
  if (match.r.may && !session.may[match.r.may]) {
    navigations += 1;
    replace(main, h("h1", {}, t("page.forbidden")), h("p", {}, t("page.forbidden_detail", { role: t(`role.${session.role}`) })));
    return;
  }
  main.replaceChildren(h("p", { class: "loading" }, t("common.loading")));
  // The view renders into its own container, mounted only if the user has
  // not navigated elsewhere meanwhile (a slow view never overwrites a newer one).
  const navigation = ++navigations;
  const container = h("div", { class: "view" });
  let stop = null;
  try {
    const args = match.m.slice(1).map(decodeURIComponent);
    stop = (await match.r.view(container, { args, params }, session)) ?? null;
  } catch (error) {
    showFailure(container, error);
  }
  if (navigation !== navigations) {
    stop?.();
    return;
  }
  stopView = stop;
  main.replaceChildren(container);
  afterMount.splice(0).forEach((run) => run());
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · Order Hub`;
}

async function onSignedIn(me) {
  session = me;
  announce(t("signin.welcome", { id: me.id }));
  if (location.hash === "" || location.hash === "#/" || location.hash === "#") {
    location.hash = homeOf(me);
  } else {
    await route();
  }
}

function signOut(message) {
  api.forgetKey();
  session = null;
  if (message) sessionStorage.setItem("order-hub.signin-message", message);
  if (location.hash === "#/") route();
  else location.hash = "#/"; // the hashchange routes
}

api.whenUnauthorized((problem) => {
  if (session) signOut(problem?.detail ?? t("signin.expired"));
});

document.getElementById("signout").addEventListener("click", () => signOut());
const langSelect = document.getElementById("lang");
langSelect.value = lang();
langSelect.addEventListener("change", () => {
  setLang(langSelect.value);
  route();
});
window.addEventListener("hashchange", route);
route();
