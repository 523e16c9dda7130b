//! `workers_command`: SSH workers listed by a command of the user's (an inventory: Kubernetes
//! pods, a Slurm allocation, an Ansible group) that prints a JSON array of worker entries in the
//! `workers` key's format. It runs (under `sh -c`) when a job starts; its workers come after
//! the static list and are checked like it.

use crate::config::{Config, WorkerConfig};
use anyhow::{anyhow, bail, Context, Result};
use std::process::Stdio;
use std::time::Duration;

/// How long the command may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The config with the command's workers added (unchanged without a command).
pub async fn with_inventory(config: &Config) -> Result<Config> {
    let mut c = config.clone();
    if c.workers_command.trim().is_empty() {
        return Ok(c);
    }
    c.workers.extend(read(&c.workers_command).await?);
    c.validate()
        .context("a worker entry printed by workers_command")?;
    Ok(c)
}

/// Runs the inventory command and reads the worker entries it prints.
async fn read(command: &str) -> Result<Vec<WorkerConfig>> {
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| {
            anyhow!(
                "workers_command did not finish within {}s",
                TIMEOUT.as_secs()
            )
        })?
        .context("cannot run workers_command")?;
    if !out.status.success() {
        let why = crate::process::tail(&out.stderr);
        bail!(
            "workers_command failed ({}): {}",
            out.status,
            why.lines().last().unwrap_or("").trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow!("workers_command did not print a JSON array of worker entries: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(command: &str) -> Config {
        Config {
            workers_command: command.into(),
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn the_commands_workers_follow_the_static_list() {
        let mut c = config(
            r#"printf '[{"host": "n1", "slots": 2}, {"host": "n2", "user": "enc", "params": {"port": 2222}}]'"#,
        );
        c.workers = serde_json::from_str(r#"[{"host": "static"}]"#).unwrap();
        let c = with_inventory(&c).await.unwrap();
        let hosts: Vec<&str> = c.workers.iter().map(|w| w.host.as_str()).collect();
        assert_eq!(hosts, ["static", "n1", "n2"]);
        assert_eq!(c.workers[1].slots, Some(2));
        assert_eq!(c.workers[2].params.port, Some(2222));
    }

    #[tokio::test]
    async fn a_failing_or_wrong_inventory_is_one_clear_error() {
        let e = with_inventory(&config("echo no such cluster >&2; exit 3"))
            .await
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "workers_command failed (exit status: 3): no such cluster"
        );
        let e = with_inventory(&config("echo '[{\"hots\": 1}]'"))
            .await
            .unwrap_err();
        assert!(format!("{e:#}").starts_with("workers_command did not print a JSON array"));
        let e = with_inventory(&config(r#"echo '[{"host": "a", "slots": 0}]'"#))
            .await
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "a worker entry printed by workers_command: workers[0].slots must be at least 1"
        );
        assert!(with_inventory(&config(""))
            .await
            .unwrap()
            .workers
            .is_empty());
    }
}
