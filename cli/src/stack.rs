//! CloudFormation mechanics shared by `deploy`, `status` and `destroy`: what a stack's
//! status allows, change sets (create, show, guard, execute or discard), following a stack's
//! events to the end, and reading outputs with the stack's resources as the fallback.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackEvent,
};
use serde::Serialize;

use crate::aws::sdk_error;
use crate::error::CliError;
use crate::output::{Output, ask};
use crate::stack_config::Param;

/// What a stack's status lets us do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No such stack (or one fully deleted).
    Missing,
    /// An empty stack left by a change set that was never executed: the next change set
    /// must again be of type CREATE.
    Review,
    /// Stable: an update can start.
    Ready,
    /// A first create failed and rolled back: the stack holds nothing and can only be
    /// deleted.
    RolledBack,
    /// An operation is running.
    Busy,
    /// Stuck: needs a human (or `continue-update-rollback`) first.
    Failed,
}

impl State {
    pub fn of(status: &str) -> State {
        match status {
            "DELETE_COMPLETE" => State::Missing,
            "REVIEW_IN_PROGRESS" => State::Review,
            "ROLLBACK_COMPLETE" => State::RolledBack,
            "CREATE_FAILED"
            | "ROLLBACK_FAILED"
            | "DELETE_FAILED"
            | "UPDATE_ROLLBACK_FAILED"
            | "UPDATE_FAILED"
            | "IMPORT_ROLLBACK_FAILED" => State::Failed,
            s if s.ends_with("_IN_PROGRESS") => State::Busy,
            s if s.ends_with("_COMPLETE") => State::Ready,
            // A status this version does not know: do nothing rash with it.
            _ => State::Failed,
        }
    }
}

/// What a stack looks like now.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub last_updated: Option<String>,
    pub drift: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    /// Logical id → physical id, for the resources that have both.
    #[serde(skip)]
    pub resources: BTreeMap<String, String>,
}

impl StackInfo {
    pub fn state(&self) -> State {
        State::of(&self.status)
    }

    /// An output, or else the physical id of the resource it names. CloudFormation may be
    /// missing outputs (a stack from an older template; an emulator) while the resources
    /// are there, and a missing value must never be a crash.
    pub fn value(&self, output: &str, logical_id: &str) -> Option<String> {
        self.outputs
            .get(output)
            .or_else(|| self.resources.get(logical_id))
            .filter(|v| !v.is_empty())
            .cloned()
    }
}

fn is_missing<E, R>(err: &aws_sdk_cloudformation::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_cloudformation::error::SdkError::ServiceError(e) => {
            e.err().code() == Some("ValidationError")
                && e.err()
                    .message()
                    .is_some_and(|m| m.contains("does not exist"))
        }
        _ => false,
    }
}

/// A parameter value as it was sent. CloudFormation reports a `CommaDelimitedList` as it
/// was given (`a,b`); moto reports it as a Python list (`['a', 'b']`, DESIGN §7), which
/// would look like a change on every deploy. Values imgflex sends never look like that.
fn list_as_sent(value: &str) -> String {
    match value.strip_prefix("['").and_then(|v| v.strip_suffix("']")) {
        Some(inner) => inner.split("', '").collect::<Vec<_>>().join(","),
        None if value == "[]" => String::new(),
        None => value.to_string(),
    }
}

/// The stack called `name`, with its resources; `None` when there is none.
pub async fn describe(cfn: &Client, name: &str) -> Result<Option<StackInfo>, CliError> {
    let stacks = match cfn.describe_stacks().stack_name(name).send().await {
        Ok(r) => r,
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(sdk_error(&format!("cannot describe stack `{name}`"), e)),
    };
    let Some(stack) = stacks.stacks().first() else {
        return Ok(None);
    };
    let status = stack
        .stack_status()
        .map_or_else(|| "UNKNOWN".to_string(), |s| s.as_str().to_string());
    if State::of(&status) == State::Missing {
        return Ok(None);
    }
    let mut info = StackInfo {
        name: name.to_string(),
        status,
        reason: stack.stack_status_reason().map(str::to_string),
        last_updated: stack
            .last_updated_time()
            .or(stack.creation_time())
            .map(ToString::to_string),
        drift: stack
            .drift_information()
            .and_then(|d| d.stack_drift_status())
            .map(|s| s.as_str().to_string()),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        parameters: stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    list_as_sent(p.parameter_value().unwrap_or_default()),
                ))
            })
            .collect(),
        resources: BTreeMap::new(),
    };
    if let Ok(r) = cfn.describe_stack_resources().stack_name(name).send().await {
        info.resources = r
            .stack_resources()
            .iter()
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_string(),
                    r.physical_resource_id()?.to_string(),
                ))
            })
            .collect();
    }
    // Resources are the fallback for missing outputs, not what the status is read from: a
    // stack whose resources cannot be listed (mid-create, or an emulator's failure) is still
    // described by its status.
    Ok(Some(info))
}

/// Why a stack in this state cannot be changed now, with what to do; `None` when it can
/// (or when `apply` handles it, as a rolled-back first create).
pub fn blocked(info: &StackInfo, region: &str) -> Option<CliError> {
    let name = &info.name;
    let status = &info.status;
    match info.state() {
        State::Busy => Some(
            CliError::new(format!("stack `{name}` ({region}) is busy: {status}")).hint(
                "another operation is running on it; wait until it ends (`imgflex status`), then run again",
            ),
        ),
        State::Failed => {
            let reason = info.reason.as_deref().unwrap_or("no reason given");
            let hint = if status == "UPDATE_ROLLBACK_FAILED" {
                format!(
                    "fix the cause, then `aws cloudformation continue-update-rollback --stack-name {name} --region {region}` and run again"
                )
            } else {
                format!(
                    "fix the cause, then delete `{name}` (`imgflex destroy`, or the CloudFormation console) and run again"
                )
            };
            Some(
                CliError::new(format!(
                    "stack `{name}` ({region}) is in a failed state, {status}: {reason}"
                ))
                .hint(hint),
            )
        }
        _ => None,
    }
}

/// One row of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False`, `Conditional` for modifications; empty otherwise.
    pub replacement: String,
}

/// Resources whose replacement or removal loses data: the buckets (images, logs) and the
/// log groups.
const DATA_BEARING: &[&str] = &["AWS::S3::Bucket", "AWS::Logs::LogGroup"];

impl Change {
    /// Whether executing this change may destroy data.
    pub fn is_destructive(&self) -> bool {
        DATA_BEARING.contains(&self.resource_type.as_str())
            && (self.action == "Remove" || (self.action == "Modify" && self.replacement != "False"))
    }
}

/// A parameter whose deployed value the change set alters, whoever set that value (a
/// console edit is a deployed value like any other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterChange {
    pub name: String,
    pub old: Option<String>,
    pub new: String,
    /// The imgflex.toml key behind the parameter, when it has one.
    pub key: Option<String>,
    /// Where the new value comes from: `imgflex.toml:12`, `--set …`, `default`, …
    pub source: String,
}

/// The parameters that differ between a stack and what is about to be sent. Every
/// parameter is always sent, so a value changed behind imgflex's back shows up here
/// instead of being put back silently. Values over 60 characters (the policy JSON) are
/// shortened for display by the table, not here.
pub fn parameter_changes(
    current: &BTreeMap<String, String>,
    next: &[Param],
) -> Vec<ParameterChange> {
    next.iter()
        .filter(|p| current.get(p.name) != Some(&p.value))
        .map(|p| ParameterChange {
            name: p.name.to_string(),
            old: current.get(p.name).cloned(),
            new: p.value.clone(),
            key: (!p.key.is_empty()).then(|| p.key.to_string()),
            source: p.source.to_string(),
        })
        .collect()
}

/// What a change set would do, for the table and for `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub region: String,
    pub create: bool,
    pub changes: Vec<Change>,
    pub parameters: Vec<ParameterChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.parameters.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.create { "create" } else { "update" };
        writeln!(
            f,
            "change set for stack `{}` ({}, {verb}):",
            self.stack, self.region
        )?;
        if self.changes.is_empty() {
            writeln!(f, "  (no resource changes listed)")?;
        } else {
            let w_id = self
                .changes
                .iter()
                .map(|c| c.logical_id.len())
                .max()
                .unwrap_or(0);
            let w_ty = self
                .changes
                .iter()
                .map(|c| c.resource_type.len())
                .max()
                .unwrap_or(0);
            writeln!(
                f,
                "  {:<8} {:<w_id$} {:<w_ty$} REPLACEMENT",
                "ACTION", "LOGICAL ID", "TYPE"
            )?;
            for c in &self.changes {
                writeln!(
                    f,
                    "  {:<8} {:<w_id$} {:<w_ty$} {}{}",
                    c.action,
                    c.logical_id,
                    c.resource_type,
                    if c.replacement.is_empty() {
                        "-"
                    } else {
                        &c.replacement
                    },
                    if c.is_destructive() { "  (data!)" } else { "" }
                )?;
            }
        }
        if !self.parameters.is_empty() && !self.create {
            writeln!(
                f,
                "  parameters (deployed -> new, and where the new value comes from):"
            )?;
            for p in &self.parameters {
                let from = match &p.key {
                    Some(key) => format!("{}, {key}", p.source),
                    None => p.source.clone(),
                };
                writeln!(
                    f,
                    "    {}: {} -> {}  ({from})",
                    p.name,
                    p.old.as_deref().map_or("(unset)".into(), shorten),
                    if p.new.is_empty() {
                        "(empty)".to_string()
                    } else {
                        shorten(&p.new)
                    }
                )?;
            }
        }
        Ok(())
    }
}

fn shorten(value: &str) -> String {
    if value.chars().count() > 60 {
        format!("{}…", value.chars().take(59).collect::<String>())
    } else {
        value.to_string()
    }
}

/// One stack to bring to a template.
#[derive(Debug)]
pub struct Target<'a> {
    pub cfn: &'a Client,
    pub region: &'a str,
    pub name: &'a str,
    pub template: &'a str,
    /// Every parameter of the template, always: one left out would take its template
    /// default on an update, silently undoing whatever the deployed value was.
    pub parameters: Vec<Param>,
}

/// How the user steers `apply`.
#[derive(Debug, Clone, Copy)]
pub struct Choices {
    pub yes: bool,
    pub dry_run: bool,
    pub allow_replace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Unchanged,
    Created,
    Updated,
    /// `--dry-run`: shown, then discarded.
    Previewed,
}

/// Brings `target` to its template through a change set: shows it, guards data, asks,
/// executes and follows it. "No changes" is an outcome, not an error.
pub async fn apply(
    target: &Target<'_>,
    choices: Choices,
    out: &Output,
) -> Result<(Outcome, Plan), CliError> {
    let Target {
        cfn, name, region, ..
    } = *target;
    let mut current = describe(cfn, name).await?;
    match current.as_ref().map(StackInfo::state) {
        None | Some(State::Missing | State::Review | State::Ready) => {}
        Some(State::RolledBack) => {
            let info = current
                .as_ref()
                .map_or_else(String::new, |s| s.status.clone());
            let delete = !choices.dry_run
                && (choices.yes
                    || ask(&format!(
                        "stack `{name}` is {info} after a failed first create and holds nothing; delete it and create it again?"
                    )));
            if !delete {
                return Err(CliError::new(format!(
                    "stack `{name}` ({region}) is {info}: its first create failed, and CloudFormation can only delete it"
                ))
                .hint(format!(
                    "run `imgflex deploy --yes` to delete it and create it again (or delete `{name}` in the CloudFormation console)"
                )));
            }
            out.status(format!("deleting the failed stack `{name}`"));
            delete_stack(cfn, name, out).await?;
            current = None;
        }
        Some(State::Busy | State::Failed) => {
            if let Some(err) = current.as_ref().and_then(|info| blocked(info, region)) {
                return Err(err);
            }
        }
    }
    let create = current.as_ref().is_none_or(|s| s.state() == State::Review);
    let created_for_review = current.is_none();

    let change_set = format!(
        "imgflex-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let params: Vec<Parameter> = target
        .parameters
        .iter()
        .map(|p| {
            Parameter::builder()
                .parameter_key(p.name)
                .parameter_value(&p.value)
                .build()
        })
        .collect();
    cfn.create_change_set()
        .stack_name(name)
        .change_set_name(&change_set)
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .template_body(target.template)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot create a change set for `{name}`"), e))?;

    let change_set_ref = change_set.as_str();
    let discard = |also_stack: bool| async move {
        let _ = cfn
            .delete_change_set()
            .stack_name(name)
            .change_set_name(change_set_ref)
            .send()
            .await;
        if also_stack {
            // The change set of a new stack leaves an empty REVIEW_IN_PROGRESS stack behind.
            let _ = cfn.delete_stack().stack_name(name).send().await;
        }
    };

    let (status, reason, changes) = wait_for_change_set(cfn, name, &change_set).await?;
    let mut plan = Plan {
        stack: name.to_string(),
        region: region.to_string(),
        create,
        changes,
        parameters: if create {
            Vec::new()
        } else {
            parameter_changes(
                &current
                    .as_ref()
                    .map(|s| s.parameters.clone())
                    .unwrap_or_default(),
                &target.parameters,
            )
        },
    };
    if status == ChangeSetStatus::Failed {
        let reason = reason.unwrap_or_default();
        // CloudFormation's way of saying "nothing to do" is a failed change set.
        if reason.contains("didn't contain changes")
            || reason.contains("No updates are to be performed")
        {
            plan.parameters.clear();
            discard(false).await;
            return Ok((Outcome::Unchanged, plan));
        }
        discard(created_for_review).await;
        return Err(CliError::new(format!(
            "CloudFormation refused the change set for `{name}`: {reason}"
        )));
    }
    if plan.is_empty() {
        discard(created_for_review).await;
        return Ok((Outcome::Unchanged, plan));
    }
    out.status(&plan);

    let destructive: Vec<&Change> = plan.changes.iter().filter(|c| c.is_destructive()).collect();
    if !destructive.is_empty() && !choices.allow_replace {
        discard(created_for_review).await;
        let list = destructive
            .iter()
            .map(|c| format!("`{}` ({}, {})", c.logical_id, c.resource_type, c.action))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(CliError::new(format!(
            "the change set for `{name}` would replace or delete resources that hold data: {list}; nothing was changed"
        ))
        .hint("review the table above; if losing that data is intended, run again with `--allow-replace`"));
    }
    if choices.dry_run {
        discard(created_for_review).await;
        return Ok((Outcome::Previewed, plan));
    }
    if !choices.yes {
        if std::io::stdin().is_terminal() {
            if !ask(&format!("execute this change set on `{name}`?")) {
                discard(created_for_review).await;
                return Err(CliError::new(format!(
                    "not executed; `{name}` was left as it was"
                )));
            }
        } else if !plan.parameters.is_empty() {
            // Changing a deployed value (maybe set in the console on purpose) is never done
            // without a yes, the same rule as `destroy` and `purge /*`.
            discard(created_for_review).await;
            let names: Vec<String> = plan
                .parameters
                .iter()
                .map(|p| match &p.key {
                    Some(key) => format!("{} ({key})", p.name),
                    None => p.name.clone(),
                })
                .collect();
            return Err(CliError::new(format!(
                "not changing the deployed parameters of `{name}` without confirmation: {}; nothing was changed",
                names.join(", ")
            ))
            .hint("the table above shows each value and where the new one comes from; to keep a deployed value, put it in imgflex.toml; to apply, run on a terminal or pass `--yes`"));
        }
    }

    let seen = event_ids(cfn, name).await;
    cfn.execute_change_set()
        .stack_name(name)
        .change_set_name(&change_set)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot execute the change set on `{name}`"), e))?;
    follow(cfn, name, plan.changes.len(), seen, out).await?;
    Ok((
        if create {
            Outcome::Created
        } else {
            Outcome::Updated
        },
        plan,
    ))
}

async fn wait_for_change_set(
    cfn: &Client,
    name: &str,
    change_set: &str,
) -> Result<(ChangeSetStatus, Option<String>, Vec<Change>), CliError> {
    let started = Instant::now();
    loop {
        let mut changes = Vec::new();
        let mut token = None;
        let (status, reason) = loop {
            let page = cfn
                .describe_change_set()
                .stack_name(name)
                .change_set_name(change_set)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("cannot read the change set of `{name}`"), e))?;
            for c in page.changes() {
                if let Some(r) = c.resource_change() {
                    changes.push(Change {
                        action: r.action().map_or("?", |a| a.as_str()).to_string(),
                        logical_id: r.logical_resource_id().unwrap_or("?").to_string(),
                        resource_type: r.resource_type().unwrap_or("?").to_string(),
                        replacement: r.replacement().map_or("", |a| a.as_str()).to_string(),
                    });
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break (
                    page.status().cloned(),
                    page.status_reason().map(str::to_string),
                );
            }
        };
        match status {
            Some(ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress) | None => {
                if started.elapsed() > Duration::from_secs(600) {
                    return Err(CliError::new(format!(
                        "the change set for `{name}` was not ready after 10 minutes"
                    )));
                }
                tokio::time::sleep(crate::aws::poll_interval(Duration::from_secs(2))).await;
            }
            Some(s) => return Ok((s, reason, changes)),
        }
    }
}

async fn event_ids(cfn: &Client, name: &str) -> HashSet<String> {
    match cfn.describe_stack_events().stack_name(name).send().await {
        Ok(r) => r
            .stack_events()
            .iter()
            .filter_map(|e| e.event_id().map(str::to_string))
            .collect(),
        Err(_) => HashSet::new(),
    }
}

fn event_line(e: &StackEvent) -> String {
    let resource = format!(
        "{} ({})",
        e.logical_resource_id().unwrap_or("?"),
        e.resource_type().unwrap_or("?")
    );
    let line = format!(
        "{:<28} {resource}",
        e.resource_status().map_or("", |s| s.as_str())
    );
    match e.resource_status_reason() {
        Some(reason) => format!("{line}: {reason}"),
        None => line,
    }
}

/// Follows a stack's events until it settles: a progress bar on a terminal, plain lines
/// otherwise. A failure names the first resource that failed and what was rolled back.
async fn follow(
    cfn: &Client,
    name: &str,
    total: usize,
    mut seen: HashSet<String>,
    out: &Output,
) -> Result<(), CliError> {
    let started = Instant::now();
    let bar = out.progress(
        "{spinner} [{elapsed_precise}] {pos}/{len} {wide_msg}",
        Some(total as u64),
    );
    let mut done = HashSet::new();
    let mut first_failure: Option<String> = None;
    let mut rolled_back = Vec::new();
    loop {
        let events = match cfn.describe_stack_events().stack_name(name).send().await {
            Ok(events) => events.stack_events().to_vec(),
            // A deleted stack has no events to read by name: its end is below.
            Err(e) if is_missing(&e) => Vec::new(),
            Err(e) => return Err(sdk_error(&format!("cannot read the events of `{name}`"), e)),
        };
        // Newest first: replay the unseen ones in order.
        let fresh: Vec<&StackEvent> = events
            .iter()
            .filter(|e| e.event_id().is_some_and(|id| !seen.contains(id)))
            .collect();
        for e in fresh.into_iter().rev() {
            if let Some(id) = e.event_id() {
                seen.insert(id.to_string());
            }
            let status = e.resource_status().map_or("", |s| s.as_str());
            let logical = e.logical_resource_id().unwrap_or("?").to_string();
            let is_stack = e.resource_type() == Some("AWS::CloudFormation::Stack");
            if status.ends_with("_FAILED") && first_failure.is_none() && !is_stack {
                first_failure = Some(format!(
                    "`{logical}` ({}) {status}: {}",
                    e.resource_type().unwrap_or("?"),
                    e.resource_status_reason().unwrap_or("no reason given")
                ));
            }
            if status.starts_with("DELETE_COMPLETE") && first_failure.is_some() && !is_stack {
                rolled_back.push(logical.clone());
            }
            if status.ends_with("_COMPLETE")
                && !is_stack
                && done.insert(logical.clone())
                && let Some(bar) = &bar
            {
                bar.inc(1);
            }
            match &bar {
                Some(bar) => bar.set_message(format!("{logical} {status}")),
                None => out.status(format!("  {}", event_line(e))),
            }
        }
        let stack = describe(cfn, name).await?;
        let status = stack
            .as_ref()
            .map_or("DELETE_COMPLETE", |s| s.status.as_str())
            .to_string();
        if !status.ends_with("_IN_PROGRESS") {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let elapsed = started.elapsed().as_secs();
            let failed = status.contains("ROLLBACK") || status.ends_with("_FAILED");
            if !failed {
                out.status(format!("stack `{name}`: {status} in {elapsed} s"));
                return Ok(());
            }
            let reason = first_failure
                .or_else(|| stack.and_then(|s| s.reason))
                .unwrap_or_else(|| "no reason given".into());
            let undone = if rolled_back.is_empty() {
                String::new()
            } else {
                format!("; rolled back: {}", rolled_back.join(", "))
            };
            return Err(CliError::new(format!(
                "stack `{name}` ended {status} after {elapsed} s; first failure: {reason}{undone}"
            ))
            .hint("fix the cause above and run `imgflex deploy` again; `imgflex status` shows where things stand"));
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err(CliError::new(format!(
                "stack `{name}` was still {status} after an hour; stopped following it"
            ))
            .hint("it keeps going without us: follow it with `imgflex status`"));
        }
        tokio::time::sleep(crate::aws::poll_interval(Duration::from_secs(3))).await;
    }
}

/// Deletes a stack and follows it to the end.
pub async fn delete_stack(cfn: &Client, name: &str, out: &Output) -> Result<(), CliError> {
    let seen = event_ids(cfn, name).await;
    cfn.delete_stack()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("cannot delete stack `{name}`"), e))?;
    follow(cfn, name, 0, seen, out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack_config::Source;

    #[test]
    fn states_from_every_status_family() {
        assert_eq!(State::of("CREATE_COMPLETE"), State::Ready);
        assert_eq!(State::of("UPDATE_ROLLBACK_COMPLETE"), State::Ready);
        assert_eq!(State::of("IMPORT_COMPLETE"), State::Ready);
        assert_eq!(State::of("ROLLBACK_COMPLETE"), State::RolledBack);
        assert_eq!(State::of("REVIEW_IN_PROGRESS"), State::Review);
        assert_eq!(State::of("UPDATE_IN_PROGRESS"), State::Busy);
        assert_eq!(
            State::of("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            State::Busy
        );
        assert_eq!(State::of("ROLLBACK_FAILED"), State::Failed);
        assert_eq!(State::of("UPDATE_ROLLBACK_FAILED"), State::Failed);
        assert_eq!(State::of("DELETE_COMPLETE"), State::Missing);
        // moto and future AWS statuses we have never seen are not taken for "ready".
        assert_eq!(State::of("Completed"), State::Failed);
        assert_eq!(State::of(""), State::Failed);
    }

    fn change(action: &str, ty: &str, replacement: &str) -> Change {
        Change {
            action: action.into(),
            logical_id: "X".into(),
            resource_type: ty.into(),
            replacement: replacement.into(),
        }
    }

    #[test]
    fn only_data_loss_is_destructive() {
        assert!(change("Remove", "AWS::S3::Bucket", "").is_destructive());
        assert!(change("Modify", "AWS::S3::Bucket", "True").is_destructive());
        assert!(change("Modify", "AWS::S3::Bucket", "Conditional").is_destructive());
        assert!(change("Remove", "AWS::Logs::LogGroup", "").is_destructive());
        assert!(!change("Modify", "AWS::S3::Bucket", "False").is_destructive());
        assert!(!change("Add", "AWS::S3::Bucket", "").is_destructive());
        assert!(!change("Modify", "AWS::Lambda::Function", "True").is_destructive());
        assert!(!change("Remove", "AWS::CloudFront::Function", "").is_destructive());
    }

    #[test]
    fn parameter_changes_list_what_differs() {
        let current: BTreeMap<String, String> = [("A", "1"), ("B", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = |name: &'static str, value: &str, source: Source| Param {
            name,
            value: value.to_string(),
            key: if name == "B" { "handler.memory" } else { "" },
            source,
        };
        let next = vec![
            p("A", "1", Source::Default),
            p("B", "3", Source::File("imgflex.toml:4".into())),
            p("C", "4", Source::Default),
        ];
        let diff = parameter_changes(&current, &next);
        assert_eq!(diff.len(), 2);
        assert_eq!(diff[0].name, "B");
        assert_eq!(diff[0].old.as_deref(), Some("2"));
        assert_eq!(diff[0].source, "imgflex.toml:4");
        assert_eq!(diff[0].key.as_deref(), Some("handler.memory"));
        assert_eq!(diff[1].name, "C");
        assert_eq!(diff[1].old, None);
        assert_eq!(diff[1].key, None);
    }

    #[test]
    fn lists_read_back_as_they_were_sent() {
        assert_eq!(list_as_sent("['a', 'b']"), "a,b");
        assert_eq!(list_as_sent("['']"), "");
        assert_eq!(list_as_sent("[]"), "");
        assert_eq!(list_as_sent("a,b"), "a,b");
        assert_eq!(list_as_sent("{\"max_width\":1}"), "{\"max_width\":1}");
    }

    #[test]
    fn value_falls_back_to_the_resource() {
        let mut info = StackInfo {
            name: "s".into(),
            status: "CREATE_COMPLETE".into(),
            reason: None,
            last_updated: None,
            drift: None,
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
        };
        assert_eq!(info.value("OriginalsBucketName", "OriginalsBucket"), None);
        info.resources
            .insert("OriginalsBucket".into(), "phys".into());
        assert_eq!(
            info.value("OriginalsBucketName", "OriginalsBucket")
                .as_deref(),
            Some("phys")
        );
        info.outputs
            .insert("OriginalsBucketName".into(), "out".into());
        assert_eq!(
            info.value("OriginalsBucketName", "OriginalsBucket")
                .as_deref(),
            Some("out")
        );
    }
}
