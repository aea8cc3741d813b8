//! `hub dlq list|show|replay`: dead letters from the command line.
//!
//! Works on the store directly (like a migration tool), so it needs the
//! database URL the hub uses and no running hub. Replays are recorded on
//! the order's timeline with the operator's name (`--as`, default `$USER`).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use hub_kernel::dlq;
use hub_kernel::store::{DeadLetterFilter, Store};
use hub_kernel::timeline::Actor;

#[derive(Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
    #[command(flatten)]
    store: super::StoreArgs,
}

#[derive(Args, Clone, Default)]
struct FilterArgs {
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    line: Option<String>,
    /// Dead since (RFC 3339, inclusive).
    #[arg(long)]
    since: Option<String>,
    /// Dead before (RFC 3339, exclusive).
    #[arg(long)]
    until: Option<String>,
    /// e.g. unavailable, timeout, unauthorized, trap, plugin-permanent.
    #[arg(long)]
    error_kind: Option<String>,
}

impl From<FilterArgs> for DeadLetterFilter {
    fn from(args: FilterArgs) -> Self {
        DeadLetterFilter {
            target: args.target,
            line: args.line,
            since: args.since,
            until: args.until,
            error_kind: args.error_kind,
        }
    }
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its full attempt history.
    Show {
        job_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters again: the given jobs, or with --all every one matching the filters.
    Replay {
        job_ids: Vec<String>,
        /// Replay every dead letter matching the filters (with a progress bar).
        #[arg(long, conflicts_with = "job_ids")]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Who replays, for the timeline (default: $USER).
        #[arg(long = "as")]
        operator: Option<String>,
    },
}

pub fn run(args: DlqArgs) -> Result<ExitCode> {
    let command = args.command;
    args.store.run(|store| async move {
        match command {
            DlqCommand::List { filter, limit, json } => list(&store, filter.into(), limit, json).await,
            DlqCommand::Show { job_id, json } => show(&store, &job_id, json).await,
            DlqCommand::Replay {
                job_ids,
                all,
                filter,
                operator,
            } => replay(&store, job_ids, all, filter.into(), super::cli_actor(operator)).await,
        }
    })
}

async fn list(store: &Store, filter: DeadLetterFilter, limit: u32, json: bool) -> Result<ExitCode> {
    let letters = store.dead_letters(&filter, None, limit.clamp(1, 10_000)).await?;
    if json {
        for letter in &letters {
            println!("{}", serde_json::to_string(letter)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if letters.is_empty() {
        println!("no dead letters");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<36}  {:<16}  {:>8}  {:<18}  dead at",
        "job", "order", "target", "attempts", "error"
    );
    for letter in &letters {
        println!(
            "{:<36}  {:<36}  {:<16}  {:>8}  {:<18}  {}",
            letter.job_id,
            letter.order_id,
            letter.target,
            letter.attempts,
            letter.error_kind.as_deref().unwrap_or("-"),
            letter.dead_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &Store, job_id: &str, json: bool) -> Result<ExitCode> {
    let Some((letter, attempts)) = store.dead_letter(job_id).await? else {
        eprintln!("no dead letter '{job_id}'");
        return Ok(ExitCode::from(1));
    };
    if json {
        println!("{}", serde_json::json!({ "dead_letter": letter, "attempts": attempts }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("job       {}", letter.job_id);
    println!("order     {} (tenant {})", letter.order_id, letter.tenant);
    println!("target    {} (line {})", letter.target, letter.line);
    println!(
        "dead at   {} after {} attempt(s), {} replay(s) before",
        letter.dead_at, letter.attempts, letter.replays
    );
    println!(
        "error     {}: {}",
        letter.error_kind.as_deref().unwrap_or("-"),
        letter.error.as_deref().unwrap_or("-")
    );
    println!("attempts:");
    let mut expected = (0, 1);
    for attempt in &attempts {
        if attempt.round == expected.0 && attempt.attempt > expected.1 {
            println!(
                "  round {} attempts {}..{}: no record (the worker stopped; its lease expired)",
                attempt.round,
                expected.1,
                attempt.attempt - 1
            );
        }
        println!(
            "  round {} #{:<2} {} → {}  {}@{} on {}: {}{}",
            attempt.round,
            attempt.attempt,
            attempt.started_at,
            attempt.finished_at,
            attempt.plugin,
            attempt.plugin_version,
            attempt.node,
            attempt.outcome,
            match (&attempt.error_kind, &attempt.detail) {
                (Some(kind), Some(detail)) => format!(" ({kind}: {detail})"),
                _ => String::new(),
            }
        );
        expected = (attempt.round, attempt.attempt + 1);
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay(
    store: &Store,
    job_ids: Vec<String>,
    all: bool,
    filter: DeadLetterFilter,
    actor: Actor,
) -> Result<ExitCode> {
    if !all && job_ids.is_empty() {
        eprintln!("name the jobs to replay, or use --all with filters (hub dlq list shows them)");
        return Ok(ExitCode::from(2));
    }
    let ids = if all {
        dlq::matching(store, &filter).await?
    } else {
        job_ids
    };
    let bar = ProgressBar::new(ids.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} replayed ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut replayed, mut missing) = (0, Vec::new());
    for id in &ids {
        if dlq::replay_one(store, None, id, &actor).await? {
            replayed += 1;
        } else {
            missing.push(id.clone());
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "replayed {replayed} of {} dead letter(s); a running hub delivers them now",
        ids.len()
    );
    for id in &missing {
        println!("not a dead letter (any more): {id}");
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
