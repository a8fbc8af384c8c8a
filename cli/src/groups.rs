//! `kafkit groups`: list consumer groups and describe one (members, assignment, committed
//! offsets, lag), as `kafka-consumer-groups.sh`.
//!
//! Owns: the subcommand's options and its table. Must not touch: group membership (it only
//! reads groups through `kafkit::admin`).

use std::collections::{BTreeMap, BTreeSet};

use clap::ArgGroup;
use kafkit::TopicPartition;
use kafkit::admin::{GroupDescription, OffsetSpec};

use crate::{CliError, CliResult, ConnectArgs, admin_client, admin_failure, admin_options};

/// `kafkit groups` options: exactly one action.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "describe"])))]
pub struct GroupsArgs {
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List group ids, one per line.
    #[arg(long)]
    pub list: bool,
    /// Describe this group: one row per partition it has an offset for or is assigned.
    #[arg(long, value_name = "GROUP")]
    pub describe: Option<String>,
}

/// One row of the describe table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagRow {
    /// The partition.
    pub tp: TopicPartition,
    /// The committed offset, if any.
    pub current: Option<i64>,
    /// The log end offset, if known.
    pub log_end: Option<i64>,
    /// The member it is assigned to: (consumer id, host, client id).
    pub member: Option<(String, String, String)>,
}

impl LagRow {
    /// `log_end - current`, when both are known (never below 0).
    pub fn lag(&self) -> Option<i64> {
        Some((self.log_end? - self.current?).max(0))
    }
}

/// Runs the chosen action.
pub async fn run(args: GroupsArgs) -> CliResult {
    if matches!(&args.describe, Some(g) if g.is_empty()) {
        return Err(CliError::Usage("--describe needs a group id".into()));
    }
    let admin = admin_client(&args.connect).await?;
    let result = match &args.describe {
        None => list(&admin, &args.connect).await,
        Some(group) => describe(&admin, &args.connect, group).await,
    };
    admin.close();
    result
}

async fn list(admin: &kafkit::admin::AdminClient, connect: &ConnectArgs) -> CliResult {
    let groups = admin
        .list_groups(admin_options(connect))
        .await
        .map_err(|e| admin_failure(connect, e))?;
    let ids: BTreeSet<String> = groups.into_iter().map(|g| g.group_id).collect();
    for id in ids {
        println!("{id}");
    }
    Ok(())
}

async fn describe(
    admin: &kafkit::admin::AdminClient,
    connect: &ConnectArgs,
    group: &str,
) -> CliResult {
    let mut described = admin
        .describe_groups(&[group], admin_options(connect))
        .await
        .map_err(|e| admin_failure(connect, e))?;
    let description: Option<GroupDescription> = match described.remove(group) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) if e.error_code() == Some(kafkit::protocol::ErrorCode::GroupIdNotFound) => {
            None
        }
        Some(Err(e)) => {
            return Err(CliError::runtime(format!("consumer group '{group}': {e}")));
        }
        None => None,
    };
    let committed = admin
        .list_group_offsets(group, admin_options(connect))
        .await
        .map_err(|e| CliError::runtime(format!("consumer group '{group}': {e}")))?;
    let dead = description.as_ref().is_none_or(|d| d.state == "Dead");
    if dead && committed.is_empty() {
        return Err(CliError::runtime(format!(
            "consumer group '{group}' does not exist"
        )));
    }
    let members = description.map(|d| d.members).unwrap_or_default();
    let mut assigned: BTreeMap<TopicPartition, (String, String, String)> = BTreeMap::new();
    for m in &members {
        for tp in m.assignment.iter().flat_map(|a| a.partitions.iter()) {
            assigned.insert(
                tp.clone(),
                (m.member_id.clone(), m.host.clone(), m.client_id.clone()),
            );
        }
    }
    let partitions: BTreeSet<TopicPartition> =
        committed.keys().chain(assigned.keys()).cloned().collect();
    let ends = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        admin
            .list_offsets(
                partitions
                    .iter()
                    .map(|tp| (tp.clone(), OffsetSpec::Latest))
                    .collect(),
                admin_options(connect),
            )
            .await
            .map_err(|e| admin_failure(connect, e))?
    };
    let rows: Vec<LagRow> = partitions
        .into_iter()
        .map(|tp| LagRow {
            current: committed.get(&tp).map(|o| o.offset).filter(|o| *o >= 0),
            log_end: ends
                .get(&tp)
                .and_then(|r| r.as_ref().ok())
                .map(|o| o.offset),
            member: assigned.get(&tp).cloned(),
            tp,
        })
        .collect();
    if members.is_empty() {
        println!("\nConsumer group '{group}' has no active members.");
    }
    println!();
    print!("{}", format_table(group, &rows));
    Ok(())
}

/// The describe table: a header and one row per partition, columns aligned, `-` for unknowns.
pub fn format_table(group: &str, rows: &[LagRow]) -> String {
    let header = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(String::from);
    let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut table = vec![header.to_vec()];
    for r in rows {
        let (id, host, client) = r
            .member
            .clone()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        table.push(vec![
            group.to_string(),
            r.tp.topic.to_string(),
            r.tp.partition.to_string(),
            opt(r.current),
            opt(r.log_end),
            opt(r.lag()),
            id,
            host,
            client,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join(" ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_computes_lag() {
        let rows = vec![
            LagRow {
                tp: TopicPartition::new("t", 0),
                current: Some(7),
                log_end: Some(10),
                member: Some(("m-1".into(), "/127.0.0.1".into(), "c".into())),
            },
            LagRow {
                tp: TopicPartition::new("t", 1),
                current: None,
                log_end: Some(4),
                member: None,
            },
        ];
        let table = format_table("g", &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG"));
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cols,
            ["g", "t", "0", "7", "10", "3", "m-1", "/127.0.0.1", "c"]
        );
        let cols: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(cols, ["g", "t", "1", "-", "4", "-", "-", "-", "-"]);
        assert_eq!(rows[0].lag(), Some(3));
    }
}
