//! The keyhaven binary: `keyhaven serve`, the admin commands and the client commands.

mod bootstrap;
mod client;
mod config;
mod data_dir;
mod events_tail;
mod listener;
mod migrate;
mod postgres;
mod rotation;
mod server_log;
mod webhooks;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use keyhaven_api::credentials::CredentialRegistry;
use keyhaven_api::server::{AppState, MetricsRender};
use keyhaven_api::sigv4::SigningKeyCache;
use keyhaven_core::{Core, CoreConfig};
use keyhaven_kernel::audit::{ChainCheck, read_records, verify_chain};
use keyhaven_kernel::clock::AdjustableClock;
use keyhaven_store::{Backend, BlobStore, FsBlobStore, PostgresBlobStore, PostgresOptions, PostgresStore, SqliteStore};
use tokio::sync::watch;

use crate::config::{Cli, Command, EventsCommand, LogFormat, ObjectsSetting, ServeConfig, StoreSetting};

/// mimalloc instead of the system allocator: requests allocate on worker threads and the audit writer frees on
/// its own, which glibc's arenas serve slowly (about a tenth of the fast path's CPU went to malloc and free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where S3 object bodies live, sealed, beside the database.
const OBJECTS_DIR: &str = "objects";
/// How old an unreferenced body in a shared objects directory must be before a starting node removes it: far longer
/// than any request takes between writing a body and committing its record.
const SHARED_BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);
const DATABASE_FILE: &str = "keyhaven.db";
const AUDIT_RESERVE_FILE: &str = "audit.reserve";
const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How often the keys' last uses noted in memory are written (GetKeyLastUsage).
const KEY_USAGE_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let result = match cli.command {
        Command::Encrypt(mut args) => {
            if let Some(("encrypt", sub)) = matches.subcommand() {
                client::with_key_groups(args.common_mut(), sub);
            }
            return client::encrypt(args);
        }
        Command::Decrypt(mut args) => {
            if let Some(("decrypt", sub)) = matches.subcommand() {
                client::with_key_groups(args.common_mut(), sub);
            }
            return client::decrypt(args);
        }
        Command::Exec(args) => return client::exec::run(args),
        Command::Render(args) => return client::render::run(args),
        Command::Agent(args) => return client::agent::run(args),
        Command::S3(command) => return client::s3::run(command),
        Command::Serve(args) => args.resolve().map_err(|e| e.to_string()).and_then(serve),
        Command::AuditVerify {
            data_dir,
            store,
            store_ca_file,
        } => audit_verify(&data_dir, StoreArgs(store, store_ca_file)),
        Command::AuditExport {
            data_dir,
            store,
            store_ca_file,
            after,
        } => audit_export(&data_dir, StoreArgs(store, store_ca_file), after),
        Command::Migrate {
            from,
            to,
            store_ca_file,
        } => migrate_store(&from, StoreArgs(Some(to), store_ca_file)),
        Command::Events(EventsCommand::Tail(args)) => {
            let store = existing_store(
                &args.data_dir,
                StoreArgs(args.store.clone(), args.store_ca_file.clone()),
            );
            store.and_then(|store| events_tail::run(&args, &*store))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyhaven: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The server's log, to `writer`: standard error, or standard error with a copy kept for shipping (then without
/// terminal colours, which would be noise in a log group).
fn init_logging<W>(format: LogFormat, writer: W, colours: bool)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYHAVEN_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colours);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn serve(config: ServeConfig) -> Result<(), String> {
    let captured = match config.server_log_group {
        Some(_) => {
            let captured = server_log::Captured::default();
            init_logging(config.log_format, captured.clone(), false);
            Some(captured)
        }
        None => {
            init_logging(config.log_format, std::io::stderr, true);
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(config, captured))
}

async fn run(config: ServeConfig, captured: Option<server_log::Captured>) -> Result<(), String> {
    let database = config.data_dir.join(DATABASE_FILE);
    data_dir::prepare(&config.data_dir, &database)?;
    let (store, postgres) = tokio::task::block_in_place(|| open_store(&config.store, &config.data_dir))?;
    let root =
        bootstrap::root_key(&config.data_dir, std::env::var("KEYHAVEN_ROOT_KEY").ok()).map_err(|e| e.to_string())?;
    bootstrap::check_root_key(&*store, &root, &config.data_dir).map_err(|e| e.to_string())?;
    let root_credential = bootstrap::root_credentials(
        &*store,
        &root,
        &config.data_dir,
        &config.account_id,
        (
            std::env::var("KEYHAVEN_ROOT_ACCESS_KEY_ID").ok(),
            std::env::var("KEYHAVEN_ROOT_SECRET_ACCESS_KEY").ok(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let tls = bootstrap::tls_material(&config.tls, &config.data_dir)
        .map_err(|e| e.to_string())?
        .map(|pem| listener::tls_acceptor(&pem.cert, &pem.key))
        .transpose()?;

    let webhooks = config
        .event_webhooks
        .iter()
        .map(|target| webhooks::Webhook::new(target, webhooks::Timing::default()))
        .collect::<Result<Vec<_>, _>>()?;

    let clock = Arc::new(AdjustableClock::system());
    // This node's name among those sharing the store.
    let node = bootstrap::node_id(&config.data_dir).map_err(|e| e.to_string())?;
    let object_bodies = |e: keyhaven_store::StoreError| format!("object bodies: {e}");
    let blobs: Arc<dyn BlobStore> = match (&config.objects, postgres) {
        (ObjectsSetting::Database, Some(postgres)) => {
            Arc::new(tokio::task::block_in_place(|| PostgresBlobStore::open(postgres)).map_err(object_bodies)?)
        }
        (ObjectsSetting::Database, None) => return Err("--objects-in-database needs a PostgreSQL store".into()),
        (ObjectsSetting::Shared(dir), _) => Arc::new(FsBlobStore::open_shared(dir, &node).map_err(object_bodies)?),
        (ObjectsSetting::DataDir, _) => {
            Arc::new(FsBlobStore::open(&config.data_dir.join(OBJECTS_DIR)).map_err(object_bodies)?)
        }
    };
    let core = Core::open(
        store,
        blobs,
        root,
        clock,
        CoreConfig {
            audit: keyhaven_kernel::audit::AuditSettings {
                strict: config.audit_strict,
                reserve: (config.audit_reserve_bytes > 0)
                    .then(|| (config.data_dir.join(AUDIT_RESERVE_FILE), config.audit_reserve_bytes)),
                retention: config.audit_retention,
            },
            event_targets: config.event_webhooks.iter().map(|t| t.name.clone()).collect(),
            parameter_quotas: config.parameter_quotas,
            trail_delivery: config.trail_delivery,
        },
    )
    .map_err(|e| e.to_string())?;
    // Before serving: bodies a crash left without their record (or after their record was replaced) go.
    // Other nodes sharing the bodies' directory may be between a body and its record: recent bodies stay.
    let grace = match config.objects {
        ObjectsSetting::Shared(_) | ObjectsSetting::Database => SHARED_BLOB_GRACE,
        ObjectsSetting::DataDir => std::time::Duration::ZERO,
    };
    match core.s3.sweep_orphan_blobs(grace) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed object bodies no record names"),
        Err(e) => return Err(format!("sweeping object bodies: {e}")),
    }
    // JWKS of IAM OIDC providers: <data-dir>/oidc/<percent-encoded issuer host and path>.json.
    keyhaven_iam::iam::oidc::set_jwks_directory(config.data_dir.join("oidc"));
    let metrics_handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    // The recorder keeps every histogram sample until upkeep drains it: without a scraper that is
    // unbounded growth (about 19 bytes a request), so upkeep runs on its own.
    let upkeep = metrics_handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let render: MetricsRender = Arc::new(move || metrics_handle.render());
    core.kms.enforce_request_quotas(config.kms_request_quotas.clone());
    core.kms.configure_hsm_clusters(config.hsm_clusters.clone());
    // GetKeyLastUsage's notes reach the store every few seconds (and at shutdown, below).
    let usage_core = core.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(KEY_USAGE_FLUSH_EVERY);
        loop {
            every.tick().await;
            let core = usage_core.clone();
            let flushed = tokio::task::spawn_blocking(move || core.kms.flush_usage()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "writing keys' last use failed; retrying");
            }
        }
    });
    if let (Some(captured), Some((region, group))) = (captured, config.server_log_group.clone()) {
        let destination = server_log::Destination {
            account: config.account_id.clone(),
            region,
            group,
            stream: format!("keyhaven-{node}"),
        };
        tokio::spawn(server_log::ship(core.clone(), captured, destination));
    }
    let state = Arc::new(AppState {
        core: core.clone(),
        credentials: CredentialRegistry::new(root_credential, config.dev, config.account_id.clone()),
        dev: config.dev,
        default_account: config.account_id.clone(),
        signing_keys: SigningKeyCache::new(1024),
        metrics: Some(render),
        protocols: keyhaven_api::protocol::standard(&config.s3_domain),
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("{}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let reachable = if bound.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], bound.port()))
    } else {
        bound
    };
    let functions = rotation::Registry::new(
        &config.rotation_functions,
        Arc::downgrade(&core),
        tokio::runtime::Handle::current(),
        format!("{scheme}://{reachable}"),
    )?;
    core.secrets.set_rotation_functions(Arc::new(functions));
    let signal = shutdown_signal();
    // Tests and scripts read this line to learn the port when --listen ends in :0.
    println!(
        "keyhaven listening on {scheme}://{bound}{}",
        if config.dev { " (dev mode)" } else { "" }
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let scheduler = tokio::spawn(core.scheduler.clone().run(shutdown_rx.clone()));
    let deliverers: Vec<_> = webhooks
        .into_iter()
        .map(|webhook| tokio::spawn(webhook.run(core.store.clone(), node.clone(), shutdown_rx.clone())))
        .collect();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        let _ = shutdown_tx.send(true);
    });
    let mut routes = keyhaven_api::server::router(state.clone());
    if let Some(settings) = config.console.clone() {
        routes = keyhaven_console::router(state, settings).merge(routes);
        tracing::info!("web console at {scheme}://{bound}{}/", keyhaven_console::PREFIX);
    }
    listener::serve(listener, routes, tls, config.connection_limits, shutdown_rx).await;
    let _ = scheduler.await;
    for deliverer in deliverers {
        let _ = deliverer.await;
    }
    if let Err(e) = core.kms.flush_usage() {
        tracing::warn!(error = %e, "writing keys' last use at shutdown failed");
    }
    core.audit.shutdown();
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Listens for SIGINT and SIGTERM from now on, so that a signal sent as soon as the server has announced
/// itself stops it cleanly instead of killing it; the future resolves at the first one.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listeners = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
    async move {
        match listeners {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// The store `setting` names: the SQLite database in `data_dir`, or a PostgreSQL database.
/// An opened store, and the PostgreSQL store itself when it is one (object bodies may be kept there too).
type OpenedStore = (Arc<dyn Backend>, Option<Arc<PostgresStore>>);

/// The store `setting` names.
fn open_store(setting: &StoreSetting, data_dir: &std::path::Path) -> Result<OpenedStore, String> {
    match setting {
        StoreSetting::Sqlite => Ok((
            Arc::new(SqliteStore::open(&data_dir.join(DATABASE_FILE)).map_err(|e| e.to_string())?),
            None,
        )),
        StoreSetting::Postgres {
            url,
            max_connections,
            ca_file,
        } => {
            let ca_pem = ca_file
                .as_ref()
                .map(|path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())))
                .transpose()?;
            let options = PostgresOptions {
                url: url.clone(),
                max_connections: *max_connections,
                ca_pem,
            };
            let store = Arc::new(PostgresStore::open(&options).map_err(|e| format!("PostgreSQL store: {e}"))?);
            Ok((store.clone(), Some(store)))
        }
    }
}

/// An offline tool's `--store` and `--store-ca-file`, as the server was given them.
struct StoreArgs(Option<String>, Option<std::path::PathBuf>);

/// Never creates a SQLite store where there is none.
fn existing_store(
    data_dir: &std::path::Path,
    StoreArgs(store, ca_file): StoreArgs,
) -> Result<Arc<dyn Backend>, String> {
    let setting = config::store_setting(store, Some(1), ca_file).map_err(|e| e.to_string())?;
    let database = data_dir.join(DATABASE_FILE);
    if setting == StoreSetting::Sqlite && !database.is_file() {
        return Err(format!(
            "{}: no keyhaven store here (check --data-dir)",
            database.display()
        ));
    }
    open_store(&setting, data_dir).map(|(store, _)| store)
}

fn audit_verify(data_dir: &std::path::Path, store: StoreArgs) -> Result<(), String> {
    let store = existing_store(data_dir, store)?;
    let root =
        bootstrap::existing_root_key(data_dir, std::env::var("KEYHAVEN_ROOT_KEY").ok()).map_err(|e| e.to_string())?;
    match verify_chain(&*store, &root).map_err(|e| e.to_string())? {
        ChainCheck::Intact { records, last } => {
            println!("audit log intact: {records} records, the last numbered {last}");
            Ok(())
        }
        ChainCheck::Broken { sequence, reason } => {
            Err(format!("audit log fails verification at record {sequence}: {reason}"))
        }
    }
}

fn migrate_store(data_dir: &std::path::Path, target: StoreArgs) -> Result<(), String> {
    let source = existing_store(data_dir, StoreArgs(None, None))?;
    let target = existing_store(data_dir, target)?;
    let moved = migrate::migrate(&*source, &*target).map_err(|e| e.to_string())?;
    println!(
        "migrated {} records, {} jobs and {} audit batches; read back from both stores and compared: identical",
        moved.records, moved.jobs, moved.audit_batches
    );
    Ok(())
}

fn audit_export(data_dir: &std::path::Path, store: StoreArgs, mut after: u64) -> Result<(), String> {
    use std::io::Write as _;
    let store = existing_store(data_dir, store)?;
    let mut out = std::io::stdout().lock();
    loop {
        let page = read_records(&*store, after, 1_000).map_err(|e| e.to_string())?;
        let Some((last, _)) = page.last() else { return Ok(()) };
        after = *last;
        for (_, record) in page {
            out.write_all(&record)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| e.to_string())?;
        }
    }
}
