// What can be checked of the console's files without a browser: every
// word exists in English and Chinese (same keys, same placeholders, every
// key the code asks for), and no asset builds markup from data or
// evaluates strings.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./harness.mjs";

const ASSETS = join(REPO, "kernel/console/assets");
const { MESSAGES } = await import(join(ASSETS, "i18n.js"));

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".js") ? [path] : [];
  });
}

test("English and Chinese have the same keys", () => {
  const en = Object.keys(MESSAGES.en).sort();
  const zh = Object.keys(MESSAGES.zh).sort();
  assert.deepEqual(
    en.filter((k) => !zh.includes(k)),
    [],
    "keys without a Chinese text",
  );
  assert.deepEqual(
    zh.filter((k) => !en.includes(k)),
    [],
    "keys without an English text",
  );
});

test("every key the console asks for has a text", () => {
  const missing = [];
  for (const file of sources(ASSETS)) {
    const code = readFileSync(file, "utf8");
    for (const [, key] of code.matchAll(/\bt\("([a-z_]+\.[a-z_-]+)"/g)) {
      if (!(key in MESSAGES.en)) missing.push(`${file.slice(ASSETS.length + 1)}: ${key}`);
    }
    for (const [, key] of code.matchAll(/"(review\.already_(?:released|rejected)|order\.(?:live|reconnecting|closed))"/g)) {
      if (!(key in MESSAGES.en)) missing.push(`${file.slice(ASSETS.length + 1)}: ${key}`);
    }
  }
  assert.deepEqual(missing, []);
});

test("translations keep every placeholder", () => {
  for (const [key, text] of Object.entries(MESSAGES.en)) {
    const names = [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const zh = [...(MESSAGES.zh[key] ?? "").matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    assert.deepEqual(zh, names, `placeholders of ${key}`);
  }
});

test("the statuses, event kinds and milestones of the hub's vocabulary all have names", () => {
  // The vocabulary of kernel/src/timeline.rs, as ARCHITECTURE.md lists it.
  const architecture = readFileSync(join(REPO, "ARCHITECTURE.md"), "utf8");
  const statuses = /\*\*Order status\*\*[^:]*:([^\n]+(?:\n[^\n]+)*?)\./.exec(architecture)[1].match(/`([a-z-]+)`/g).map((s) => s.slice(1, -1));
  for (const status of statuses) assert.ok(`status.${status}` in MESSAGES.en, `status ${status}`);
  const milestones = /\*\*Milestones\*\*[^:]*:([^\n]+(?:\n[^\n]+)*?)\./.exec(architecture)[1].match(/`([a-z-]+)`/g).map((s) => s.slice(1, -1));
  for (const milestone of milestones) assert.ok(`milestone.${milestone}` in MESSAGES.en, `milestone ${milestone}`);
  const table = architecture.slice(architecture.indexOf("**Event kinds**"), architecture.indexOf("Reply events"));
  const kinds = table.split("\n").filter((l) => l.startsWith("| `")).flatMap((l) => l.split("|")[1].match(/`([a-z-]+)`/g).map((s) => s.slice(1, -1)));
  assert.ok(kinds.length >= 18, `found the event kinds table (${kinds.length})`);
  for (const kind of kinds) assert.ok(`kind.${kind}` in MESSAGES.en, `event kind ${kind}`);
});

test("no asset turns text into markup or code", () => {
  const forbidden = /\.innerHTML\b|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\s*\(|new Function\b|setTimeout\(\s*["'`]/;
  const found = [];
  for (const file of sources(ASSETS)) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (forbidden.test(line) && !line.trim().startsWith("//")) found.push(`${file.slice(ASSETS.length + 1)}:${i + 1}: ${line.trim()}`);
      });
  }
  const html = readFileSync(join(REPO, "kernel/console/index.html"), "utf8");
  if (/<script(?![^>]*\bsrc=)[^>]*>/.test(html)) found.push("index.html: an inline <script>");
  if (/\son[a-z]+\s*=/.test(html)) found.push("index.html: an inline event handler");
  if (/style\s*=/.test(html)) found.push("index.html: an inline style");
  assert.deepEqual(found, []);
});
