//! The sandbox against real compiled guests (`scripts/build-plugins` packs
//! them into `plugins/dist` and `plugins/dist-testing`): hostile plugins fail only their own call with
//! a precise error, incompatible or corrupt components are refused at load,
//! and hot swap under load loses no call and mixes no versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hub_kernel::sandbox::package::PackageError;
use hub_kernel::sandbox::{
    BoundTarget, CallError, CallLimits, Capability, EngineSettings, Inbound, InboundSource, Outcome, PluginCall,
    PluginOrder, PluginPackage, PluginRegistry, SandboxEngine,
};
use hub_kernel::secret::Secret;
use hub_kernel::transports::http::{HttpAuth, ReqwestHttp};
use hub_kernel::transports::recorded::{Answer, RecordedCall, Replay};
use hub_kernel::transports::{HttpRequest, HttpResponse, HttpTransport, TargetTransports, TransportError};

/// A packed plugin: test guests are in `plugins/dist-testing`, the
/// reference plugins in `plugins/dist`.
fn package_dir(name: &str, version: &str) -> PathBuf {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let testing = plugins.join("dist-testing").join(name).join(version);
    if testing.exists() {
        testing
    } else {
        plugins.join("dist").join(name).join(version)
    }
}

fn package(name: &str, version: &str) -> PluginPackage {
    let dir = package_dir(name, version);
    PluginPackage::open(&dir).unwrap_or_else(|error| panic!("{error} (run scripts/build-plugins first)"))
}

fn engine() -> Arc<SandboxEngine> {
    SandboxEngine::new(
        EngineSettings {
            max_instances: 64,
            max_memory_mib: 256,
        },
        None,
    )
    .unwrap()
}

fn ok_response() -> Answer {
    Answer::Http(HttpResponse {
        status: 200,
        headers: vec![],
        body: b"{}".to_vec(),
    })
}

fn target(behaviour: &str, http: Arc<dyn HttpTransport>) -> BoundTarget {
    let mut target = BoundTarget::new("probe-target");
    target.granted = Capability::ALL.into_iter().collect();
    target.settings = BTreeMap::from([
        ("behaviour".to_owned(), behaviour.to_owned()),
        ("endpoint_region".to_owned(), "cn-east".to_owned()),
    ]);
    target.transports = TargetTransports {
        http: Some(http),
        amqp: None,
        files: None,
    };
    target.limits = CallLimits {
        cpu_ms: 200,
        memory_mib: 64,
        wall_ms: 5_000,
        ..CallLimits::default()
    };
    target
}

fn probe(engine: &Arc<SandboxEngine>, behaviour: &str, http: Arc<dyn HttpTransport>) -> PluginCall {
    let plugin = Arc::new(engine.load(package("probe", "1.0.0")).unwrap());
    PluginCall::bind(engine.clone(), plugin, Arc::new(target(behaviour, http))).unwrap()
}

fn order(id: &str) -> PluginOrder {
    PluginOrder {
        id: id.to_owned(),
        business_line: "freight-booking".to_owned(),
        schema_version: 1,
        payload: r#"{"shipper":{"name":"上海远航国际货运有限公司"}}"#.to_owned(),
        attempt: 1,
        idempotency_key: format!("key-{id}"),
        customer: "acme".to_owned(),
    }
}

#[tokio::test]
async fn a_well_behaved_call_reaches_its_transport_and_returns_its_outcome() {
    let engine = engine();
    let replay = Arc::new(Replay::always(ok_response()));
    let call = probe(&engine, "echo", replay.clone());
    let outcome = call.submit(&order("o-1")).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Accepted {
            ops_ref: "1.0.0:o-1".into(),
            message: Some("attempt 1".into())
        }
    );
    let calls = replay.calls();
    let [RecordedCall::Http(request)] = calls.as_slice() else {
        panic!("{calls:?}")
    };
    assert_eq!(request.path, "probe");
    assert!(
        request
            .headers
            .contains(&("idempotency-key".to_owned(), "key-o-1".to_owned())),
        "{request:?}"
    );
}

#[tokio::test]
async fn an_infinite_loop_uses_up_its_cpu_budget_while_other_calls_go_on() {
    let engine = engine();
    let replay: Arc<dyn HttpTransport> = Arc::new(Replay::always(ok_response()));
    let looping = probe(&engine, "loop", replay.clone());
    let echo = probe(&engine, "echo", replay);
    let spinning = tokio::spawn(async move { looping.submit(&order("spin")).await });
    let mut others = Vec::new();
    for index in 0..20 {
        let echo = echo.clone();
        others.push(tokio::spawn(
            async move { echo.submit(&order(&format!("o-{index}"))).await },
        ));
    }
    for other in others {
        assert!(matches!(other.await.unwrap(), Ok(Outcome::Accepted { .. })));
    }
    let error = spinning.await.unwrap().unwrap_err();
    assert_eq!(error, CallError::CpuBudget { cpu_ms: 200 });
    assert_eq!(error.to_string(), "the plugin used up its CPU budget of 200 ms");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_gibibyte_allocation_hits_the_memory_limit() {
    let engine = engine();
    let call = probe(&engine, "alloc", Arc::new(Replay::always(ok_response())));
    let error = call.submit(&order("big")).await.unwrap_err();
    let CallError::MemoryLimit {
        requested_mib,
        limit_mib,
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!(limit_mib, 64);
    assert!(requested_mib >= 1024, "{requested_mib}");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_plugins_last_words() {
    let engine = engine();
    let call = probe(&engine, "trap", Arc::new(Replay::always(ok_response())));
    let error = call.submit(&order("p-1")).await.unwrap_err();
    let CallError::Trap { message } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("probe was asked to panic on order p-1"), "{message}");
    // The engine is unharmed: the next call on a fresh instance works.
    let echo = probe(&engine, "echo", Arc::new(Replay::always(ok_response())));
    assert!(echo.submit(&order("after")).await.is_ok());
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let engine = engine();
    let call = probe(&engine, "oversized", Arc::new(Replay::always(ok_response())));
    let error = call.submit(&order("o")).await.unwrap_err();
    let CallError::OutputTooLarge { bytes, limit } = error else {
        panic!("{error:?}")
    };
    assert_eq!(limit, 4096 * 1024);
    assert!(bytes > 4 << 20, "{bytes}");
}

#[tokio::test]
async fn addresses_outside_the_target_are_denied_before_any_transport() {
    let engine = engine();
    let replay = Arc::new(Replay::always(ok_response()));
    let call = probe(&engine, "outside", replay.clone());
    let error = call.submit(&order("o")).await.unwrap_err();
    let CallError::Failed(failure) = &error else {
        panic!("{error:?}")
    };
    assert!(!failure.retryable);
    let Some(TransportError::Denied(detail)) = &failure.cause else {
        panic!("{failure:?}")
    };
    assert!(
        detail.contains("address `http://169.254.169.254/latest/meta-data` is outside the target"),
        "{detail}"
    );
    assert!(detail.contains("address `../admin` is outside the target"), "{detail}");
    assert!(
        replay.calls().is_empty(),
        "nothing may reach the transport: {:?}",
        replay.calls()
    );
}

#[tokio::test]
async fn a_plugin_sees_no_environment_no_files_and_no_secrets() {
    let engine = engine();
    let replay = Arc::new(Replay::always(ok_response()));
    let call = probe(&engine, "snoop", replay.clone());
    let Outcome::Accepted {
        message: Some(report), ..
    } = call.submit(&order("s")).await.unwrap()
    else {
        panic!("snoop must report")
    };
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["env"], serde_json::json!([]), "{report}");
    assert!(report["file"].as_str().unwrap().starts_with("error"), "{report}");
    assert!(report["dir"].as_str().unwrap().starts_with("error"), "{report}");
    assert_eq!(report["secret"], serde_json::Value::Null);
    assert_eq!(report["settings"], serde_json::json!(["behaviour", "endpoint_region"]));
    assert_eq!(
        report["forged_authorization"],
        "denied by the hub: header `authorization` is set by the host only"
    );
    assert!(replay.calls().is_empty());
}

#[tokio::test]
async fn a_plugin_setting_the_targets_api_key_header_is_denied_before_anything_is_sent() {
    let engine = engine();
    // A real listener, to see that not even a connection is made.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    // The probe's `echo` sets `x-probe-version`: here the target's API-key header.
    let auth = HttpAuth::Header {
        name: "X-Probe-Version".to_owned(),
        value: Secret::new("ak_live_5b1d0e9f"),
    };
    let http = Arc::new(ReqwestHttp::new(base, Some(auth), Duration::from_secs(5), 1 << 20).unwrap());
    let call = probe(&engine, "echo", http);
    let error = call.submit(&order("k")).await.unwrap_err();
    let CallError::Failed(failure) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        failure.cause,
        Some(TransportError::Denied(
            "header `x-probe-version` is set by the host only".to_owned()
        )),
        "{failure:?}"
    );
    assert!(!failure.retryable);
    assert!(
        futures_util::FutureExt::now_or_never(listener.accept()).is_none(),
        "the request must not leave the host"
    );
}

#[tokio::test]
async fn a_flood_of_host_calls_ends_at_the_budget() {
    let engine = engine();
    let call = probe(&engine, "flood", Arc::new(Replay::always(ok_response())));
    let error = call.submit(&order("f")).await.unwrap_err();
    assert_eq!(error, CallError::HostCallBudget { budget: 1000 });
}

/// A real HTTP server that accepts connections and never answers.
async fn silent_server() -> (url::Url, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url::Url::parse(&format!("http://{address}/")).unwrap(), handle)
}

#[tokio::test]
async fn the_wall_clock_deadline_covers_time_spent_in_host_calls() {
    let engine = engine();
    let (base, server) = silent_server().await;
    let http = Arc::new(ReqwestHttp::new(base, None, Duration::from_secs(60), 1 << 20).unwrap());
    let plugin = Arc::new(engine.load(package("probe", "1.0.0")).unwrap());
    let mut bound = target("slow", http);
    bound.limits.wall_ms = 300;
    let call = PluginCall::bind(engine.clone(), plugin, Arc::new(bound)).unwrap();
    let error = call.submit(&order("slow")).await.unwrap_err();
    assert_eq!(error, CallError::Deadline { wall_ms: 300 });
    assert!(error.is_retryable());
    server.abort();
}

#[tokio::test]
async fn every_hostile_call_fails_alone_while_good_calls_succeed() {
    let engine = engine();
    let replay: Arc<dyn HttpTransport> = Arc::new(Replay::always(ok_response()));
    let mut hostile = Vec::new();
    for behaviour in ["loop", "alloc", "trap", "oversized", "outside", "flood"] {
        let call = probe(&engine, behaviour, replay.clone());
        hostile.push(tokio::spawn(async move {
            (behaviour, call.submit(&order(behaviour)).await)
        }));
    }
    let echo = probe(&engine, "echo", replay);
    let mut good = Vec::new();
    for index in 0..50 {
        let echo = echo.clone();
        good.push(tokio::spawn(
            async move { echo.submit(&order(&format!("g-{index}"))).await },
        ));
    }
    for call in good {
        assert!(call.await.unwrap().is_ok());
    }
    for call in hostile {
        let (behaviour, result) = call.await.unwrap();
        assert!(result.is_err(), "{behaviour} must fail, got {result:?}");
    }
}

#[tokio::test]
async fn inbound_messages_map_to_feedback() {
    let engine = engine();
    let call = probe(&engine, "echo", Arc::new(Replay::always(ok_response())));
    let inbound = Inbound {
        source: InboundSource::AmqpReply,
        correlation_id: Some("c-1".into()),
        name: None,
        content_type: Some("text/plain".into()),
        headers: vec![],
        body: "已签收 signed".as_bytes().to_vec(),
    };
    let feedback = call.on_inbound(&inbound).await.unwrap();
    assert_eq!(feedback.len(), 1);
    assert_eq!(feedback[0].message, "已签收 signed");
    assert_eq!(feedback[0].correlation_id.as_deref(), Some("c-1"));
}

// ---- load-time refusals ----

fn copy_package(name: &str, version: &str) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let source = package_dir(name, version);
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let path = dir.path().to_owned();
    (dir, path)
}

mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("hub-sandbox-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn a_plugin_for_another_wit_major_is_refused_by_its_manifest() {
    let error = PluginPackage::open(&package_dir("future-wit", "2.0.0")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `future-wit` 2.0.0 was built against hub:plugin 2.0.0, but this hub implements 1.0.0; \
         rebuild it with hub-plugin-sdk 1.x"
    );
}

#[tokio::test]
async fn a_component_exporting_another_wit_major_is_refused_even_if_its_manifest_lies() {
    let (_guard, dir) = copy_package("future-wit", "2.0.0");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml"))
        .unwrap()
        .replace("wit = \"2.0.0\"", "wit = \"1.0.0\"");
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    let error = engine().load(PluginPackage::open(&dir).unwrap()).unwrap_err();
    assert!(
        matches!(error, PackageError::IncompatibleWit { ref built, .. } if built.major == 2),
        "{error}"
    );
    assert!(error.to_string().contains("built against hub:plugin 2.0.0"), "{error}");
}

#[tokio::test]
async fn a_truncated_component_is_refused_with_its_path() {
    let (_guard, dir) = copy_package("rest-json", "1.0.0");
    let wasm = dir.join("rest_json.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(&wasm, &bytes[..bytes.len() / 2]).unwrap();
    let error = engine().load(PluginPackage::open(&dir).unwrap()).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PackageError::Corrupt { .. }), "{text}");
    assert!(text.contains("rest_json.wasm is corrupt or truncated"), "{text}");
    assert!(text.contains("is out of bounds"), "{text}");
}

#[tokio::test]
async fn garbage_and_core_modules_are_not_components() {
    let (_guard, dir) = copy_package("rest-json", "1.0.0");
    let wasm = dir.join("rest_json.wasm");
    std::fs::write(&wasm, b"MZ\x90\x00 this is an .exe").unwrap();
    let error = engine().load(PluginPackage::open(&dir).unwrap()).unwrap_err();
    assert!(
        error.to_string().contains("does not start with the `\\0asm` magic"),
        "{error}"
    );
    std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
    let error = engine().load(PluginPackage::open(&dir).unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("it is a core module; build it for wasm32-wasip2"),
        "{error}"
    );
}

#[tokio::test]
async fn a_capability_used_but_not_declared_is_refused_at_load() {
    let (_guard, dir) = copy_package("probe", "1.0.0");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap().replace(
        r#"capabilities = ["http", "amqp", "files", "config", "log", "clock"]"#,
        r#"capabilities = ["http", "config", "log"]"#,
    );
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    let error = engine().load(PluginPackage::open(&dir).unwrap()).unwrap_err();
    assert!(matches!(error, PackageError::Undeclared { .. }), "{error}");
    assert!(
        error.to_string().starts_with("plugin `probe` imports `hub:plugin/"),
        "{error}"
    );
}

#[tokio::test]
async fn a_target_that_does_not_grant_what_the_plugin_declares_refuses_the_binding() {
    let engine = engine();
    let plugin = Arc::new(engine.load(package("rest-json", "1.0.0")).unwrap());
    let mut bound = BoundTarget::new("freight-ops");
    bound.granted = [Capability::Http, Capability::Log].into_iter().collect();
    let error = PluginCall::bind(engine, plugin, Arc::new(bound)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin `rest-json` needs `config` which target `freight-ops` does not grant; add `config` to `grants` in [targets.freight-ops]"
    );
}

#[tokio::test]
async fn the_compile_cache_serves_the_second_load() {
    let cache = tempdir::Dir::new();
    let engine = SandboxEngine::new(EngineSettings::default(), Some(cache.path())).unwrap();
    let first = engine.load(package("rest-json", "1.0.0")).unwrap();
    let second = engine.load(package("rest-json", "1.0.0")).unwrap();
    assert!(!first.load.from_cache);
    assert!(second.load.from_cache);
    assert_eq!(first.digest, second.digest);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

// ---- the compile cache holds native code: only the hub's own is loaded ----

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The one entry of a cache directory.
fn cache_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let [entry] = entries.as_slice() else {
        panic!("{entries:?}")
    };
    entry.clone()
}

/// A cache with a probe entry the hub wrote, and the entry.
fn warm_cache() -> (tempdir::Dir, Arc<SandboxEngine>, PathBuf) {
    let cache = tempdir::Dir::new();
    let engine = SandboxEngine::new(EngineSettings::default(), Some(cache.path())).unwrap();
    assert!(!engine.load(package("probe", "1.0.0")).unwrap().load.from_cache);
    let entry = cache_entry(cache.path());
    (cache, engine, entry)
}

/// Loads probe from `engine`, checks it still answers, and says whether it
/// came from the cache.
async fn load_and_call(engine: &Arc<SandboxEngine>) -> bool {
    let plugin = Arc::new(engine.load(package("probe", "1.0.0")).unwrap());
    let from_cache = plugin.load.from_cache;
    let call = PluginCall::bind(
        engine.clone(),
        plugin,
        Arc::new(target("echo", Arc::new(Replay::always(ok_response())))),
    )
    .unwrap();
    assert!(matches!(
        call.submit(&order("o-1")).await.unwrap(),
        Outcome::Accepted { .. }
    ));
    from_cache
}

#[test]
fn a_cache_directory_the_hub_creates_is_its_own_alone() {
    let root = tempdir::Dir::new();
    let cache = root.path().join("hub-cache/plugins");
    SandboxEngine::new(EngineSettings::default(), Some(&cache)).unwrap();
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(cache.parent().unwrap()), 0o700);
}

#[test]
fn a_world_writable_cache_directory_refuses_start_up() {
    let cache = tempdir::Dir::new();
    set_mode(cache.path(), 0o777);
    let error = SandboxEngine::new(EngineSettings::default(), Some(cache.path()))
        .err()
        .unwrap();
    let path = cache.path().display();
    assert_eq!(
        error.to_string(),
        format!(
            "plugin compile cache {path} is writable by group/others (mode 0777); it holds native code \
             the hub executes: chmod go-w {path} or choose another cache_dir"
        )
    );
    set_mode(cache.path(), 0o720);
    let error = SandboxEngine::new(EngineSettings::default(), Some(cache.path()))
        .err()
        .unwrap();
    assert!(error.to_string().contains("(mode 0720)"), "{error}");
    set_mode(cache.path(), 0o755);
    SandboxEngine::new(EngineSettings::default(), Some(cache.path())).unwrap();
}

#[test]
fn a_cache_directory_owned_by_another_user_refuses_start_up() {
    use std::os::unix::fs::MetadataExt;
    let cache = tempdir::Dir::new();
    let probe = cache.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    let hub = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    // Root gives the test's directory away; anyone else tries a directory
    // root already owns (read-only for others, so only the owner is wrong).
    let (dir, owner) = if std::os::unix::fs::chown(cache.path(), Some(hub + 1), None).is_ok() {
        (cache.path().to_owned(), hub + 1)
    } else {
        let root_owned = std::path::PathBuf::from("/usr/share");
        (root_owned.clone(), std::fs::metadata(&root_owned).unwrap().uid())
    };
    assert_ne!(owner, hub, "the directory must belong to someone else");
    let error = SandboxEngine::new(EngineSettings::default(), Some(&dir)).err().unwrap();
    let path = dir.display();
    assert_eq!(
        error.to_string(),
        format!(
            "plugin compile cache {path} is owned by uid {owner}, not by the hub's user (uid {hub}); it holds \
             native code the hub executes: chown {hub} {path} or choose another cache_dir"
        )
    );
}

#[tokio::test]
async fn a_warm_cache_is_loaded_and_its_entry_is_the_hubs_alone() {
    let (_cache, engine, entry) = warm_cache();
    assert_eq!(mode(&entry), 0o600);
    assert!(load_and_call(&engine).await);
    // A new engine (a restart) over the same directory is warm too.
    let restarted = SandboxEngine::new(EngineSettings::default(), Some(entry.parent().unwrap())).unwrap();
    assert!(load_and_call(&restarted).await);
}

#[tokio::test]
async fn a_tampered_cache_entry_is_never_loaded_but_recompiled_and_rewritten() {
    let (cache, engine, entry) = warm_cache();
    let written = std::fs::read(&entry).unwrap();
    let mut tampered = written.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    std::fs::write(&entry, &tampered).unwrap();

    assert!(!load_and_call(&engine).await, "the tampered entry was loaded");
    let rewritten = std::fs::read(cache_entry(cache.path())).unwrap();
    assert_ne!(rewritten, tampered);
    assert_eq!(rewritten.len(), written.len());
    assert!(load_and_call(&engine).await);
}

#[tokio::test]
async fn a_cache_entry_writable_by_others_is_never_loaded_but_rewritten() {
    let (cache, engine, entry) = warm_cache();
    set_mode(&entry, 0o666);
    assert!(!load_and_call(&engine).await, "the group-writable entry was loaded");
    assert_eq!(mode(&cache_entry(cache.path())), 0o600);
    assert!(load_and_call(&engine).await);
}

#[tokio::test]
async fn a_symlinked_cache_entry_is_never_loaded_but_replaced_by_a_file() {
    let (cache, engine, entry) = warm_cache();
    // Even a link to a genuine entry: the link itself is what anyone who can
    // write there could point elsewhere.
    let elsewhere = tempdir::Dir::new();
    let moved = elsewhere.path().join("genuine.cwasm");
    std::fs::rename(&entry, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &entry).unwrap();

    assert!(!load_and_call(&engine).await, "the symlinked entry was loaded");
    let replaced = cache_entry(cache.path());
    assert_eq!(replaced, entry);
    assert!(std::fs::symlink_metadata(&replaced).unwrap().file_type().is_file());
    assert!(moved.exists(), "the link's target is not touched");
    assert!(load_and_call(&engine).await);
}

#[tokio::test]
async fn a_bare_artifact_without_the_hubs_header_is_never_loaded() {
    let (cache, engine, entry) = warm_cache();
    // What a hub before the header wrote, or anyone else: wasmtime's own
    // serialization of the same component, loadable but unchecked.
    assert!(engine.load(package("probe", "1.0.0")).unwrap().load.from_cache);
    let written = std::fs::read(&entry).unwrap();
    // The hub's header is 8 bytes of magic and two SHA-256 digests.
    std::fs::write(&entry, &written[8 + 32 + 32..]).unwrap();
    assert!(!load_and_call(&engine).await, "the bare artifact was loaded");
    assert_eq!(std::fs::read(cache_entry(cache.path())).unwrap().len(), written.len());
}

// ---- hot swap ----

/// Holds every request until the test opens the gate, so calls are
/// provably in flight while the plugin is swapped.
struct Gate {
    open: tokio::sync::Semaphore,
    seen: std::sync::Mutex<Vec<HttpRequest>>,
    arrived: tokio::sync::Semaphore,
}

#[async_trait]
impl HttpTransport for Gate {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.lock().unwrap().push(request);
        self.arrived.add_permits(1);
        let _pass = self
            .open
            .acquire()
            .await
            .map_err(|_| TransportError::Refused("closed".into()))?;
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: b"{}".to_vec(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_under_load_loses_no_call_and_mixes_no_versions() {
    const PER_VERSION: usize = 150;
    let engine = SandboxEngine::new(
        EngineSettings {
            max_instances: 400,
            max_memory_mib: 128,
        },
        None,
    )
    .unwrap();
    let registry = Arc::new(PluginRegistry::new(engine.clone()));
    registry.install(package("probe", "1.0.0")).unwrap();
    let gate = Arc::new(Gate {
        open: tokio::sync::Semaphore::new(0),
        seen: std::sync::Mutex::new(Vec::new()),
        arrived: tokio::sync::Semaphore::new(0),
    });
    let bound = Arc::new(target("echo", gate.clone()));

    let start = |index: usize| {
        // What the dispatcher does per job: take the active version, bind, call.
        let plugin = registry.active("probe").unwrap();
        let call = PluginCall::bind(engine.clone(), plugin, bound.clone()).unwrap();
        tokio::spawn(async move { call.submit(&order(&format!("o-{index}"))).await })
    };
    let mut calls: Vec<_> = (0..PER_VERSION).map(start).collect();
    // Every v1 call is inside its host call before the swap.
    gate.arrived.acquire_many(PER_VERSION as u32).await.unwrap().forget();
    registry.install(package("probe", "2.0.0")).unwrap();
    calls.extend((PER_VERSION..2 * PER_VERSION).map(start));
    gate.arrived.acquire_many(PER_VERSION as u32).await.unwrap().forget();
    gate.open.add_permits(2 * PER_VERSION);

    let mut versions = BTreeMap::<String, usize>::new();
    for (index, call) in calls.into_iter().enumerate() {
        let Outcome::Accepted { ops_ref, .. } = call.await.unwrap().unwrap() else {
            panic!("call {index}")
        };
        let (version, order_id) = ops_ref.split_once(':').unwrap();
        assert_eq!(order_id, format!("o-{index}"));
        let expected = if index < PER_VERSION { "1.0.0" } else { "2.0.0" };
        assert_eq!(version, expected, "call {index}");
        // The same call's host request carried the same version.
        let seen = gate.seen.lock().unwrap();
        let request = seen
            .iter()
            .find(|request| {
                request
                    .headers
                    .contains(&("idempotency-key".into(), format!("key-o-{index}")))
            })
            .unwrap();
        assert!(
            request.headers.contains(&("x-probe-version".into(), version.into())),
            "call {index}: {request:?}"
        );
        *versions.entry(version.to_owned()).or_default() += 1;
    }
    assert_eq!(
        versions,
        BTreeMap::from([("1.0.0".into(), PER_VERSION), ("2.0.0".into(), PER_VERSION)])
    );

    assert_eq!(registry.rollback("probe").unwrap().to_string(), "1.0.0");
    assert_eq!(registry.active("probe").unwrap().version().to_string(), "1.0.0");
}
