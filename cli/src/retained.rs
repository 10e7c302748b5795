//! Buckets that outlive their stack: the originals bucket (retained by the template), the
//! logs buckets (retained so late log deliveries cannot fail a stack delete), and a
//! bring-your-own originals bucket. Found again by the tags the templates give them, so a
//! redeploy after `destroy` reuses the originals and a rerun of `destroy` finishes its job;
//! and, for a bucket the stack does not own, the one policy statement imgflex adds to it.

use std::collections::HashMap;

use aws_sdk_s3::Client;
use serde_json::{Value, json};

use crate::aws::{error_code, sdk_error};
use crate::error::CliError;

pub const TAG_STACK: &str = "imgflex:stack";
pub const TAG_REGION: &str = "imgflex:region";
pub const TAG_ROLE: &str = "imgflex:role";

/// The roles the templates tag their buckets with.
pub const ROLE_ORIGINALS: &str = "originals";
pub const ROLE_LOGS: &str = "logs";
pub const ROLE_CDN_LOGS: &str = "cdn-logs";

/// A bucket's tags; `None` when it has none or they cannot be read (another region's
/// bucket answers with a redirect, a foreign bucket with a denial: neither is ours).
pub async fn tags(s3: &Client, bucket: &str) -> Option<HashMap<String, String>> {
    let r = s3.get_bucket_tagging().bucket(bucket).send().await.ok()?;
    Some(
        r.tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    )
}

/// Whether `tags` mark a bucket of `stack` in `region` with `role`.
pub fn is_ours(tags: &HashMap<String, String>, stack: &str, region: &str, role: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack)
        && tags.get(TAG_REGION).map(String::as_str) == Some(region)
        && tags.get(TAG_ROLE).map(String::as_str) == Some(role)
}

/// The buckets tagged as `role` of `stack` in `region`, oldest first (see `find_roles`).
pub async fn find(
    s3: &Client,
    stack: &str,
    region: &str,
    role: &str,
) -> Result<Vec<String>, CliError> {
    Ok(find_roles(s3, stack, region, &[role])
        .await?
        .into_iter()
        .map(|(bucket, _)| bucket)
        .collect())
}

/// The buckets of `stack` in `region` tagged with one of `roles`, each with its role, oldest
/// first. `s3` must be a client of `region`. Every bucket of the account is looked at (S3
/// has no search by tag), 16 at a time, so one call serves every role a caller needs;
/// buckets S3 says are elsewhere are skipped without a call.
pub async fn find_roles(
    s3: &Client,
    stack: &str,
    region: &str,
    roles: &[&str],
) -> Result<Vec<(String, String)>, CliError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_buckets()
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("cannot list the account's S3 buckets", e))?;
        for b in page.buckets() {
            let elsewhere = b.bucket_region().is_some_and(|r| r != region);
            if let (Some(name), false) = (b.name(), elsewhere) {
                names.push((b.creation_date().map(|d| d.secs()), name.to_string()));
            }
        }
        match page.continuation_token() {
            Some(next) if Some(next) != token.as_deref() && !page.buckets().is_empty() => {
                token = Some(next.to_string());
            }
            _ => break,
        }
    }
    names.sort();
    let mut found = Vec::new();
    for chunk in names.chunks(16) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (_, name)) in chunk.iter().enumerate() {
            let (s3, name) = (s3.clone(), name.clone());
            tasks.spawn(async move { (i, tags(&s3, &name).await) });
        }
        let mut hits = Vec::new();
        while let Some(Ok((i, tags))) = tasks.join_next().await {
            if let Some(role) = tags.and_then(|t| {
                roles
                    .iter()
                    .find(|role| is_ours(&t, stack, region, role))
                    .map(|role| role.to_string())
            }) {
                hits.push((i, role));
            }
        }
        hits.sort_unstable();
        found.extend(hits.into_iter().map(|(i, role)| (chunk[i].1.clone(), role)));
    }
    Ok(found)
}

/// Where a bucket is, from S3 itself (`us-east-1` comes back as no constraint).
pub async fn bucket_region(s3: &Client, bucket: &str) -> Result<Option<String>, CliError> {
    match s3.get_bucket_location().bucket(bucket).send().await {
        Ok(r) => Ok(Some(r.location_constraint().map_or_else(
            || "us-east-1".to_string(),
            |c| match c.as_str() {
                "" => "us-east-1".to_string(),
                "EU" => "eu-west-1".to_string(),
                other => other.to_string(),
            },
        ))),
        Err(e) if matches!(error_code(&e), Some("NoSuchBucket")) => Ok(None),
        Err(e) => Err(sdk_error(&format!("cannot find where s3://{bucket} is"), e)),
    }
}

// ------------------------------------------------------------ a bucket the stack does not own

/// The `Sid` of the statement imgflex adds to a bucket it does not own: one per stack and
/// region, letters and digits only (what every policy language accepts).
pub fn statement_id(stack: &str, region: &str) -> String {
    let alnum: String = format!("{stack}{region}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("ImgflexCloudFrontRead{alnum}")
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The statement that lets this stack's distribution (and only it) read the originals, as
/// the template's `OriginalsBucketPolicy` does for a bucket it creates.
pub fn read_statement(
    bucket: &str,
    stack: &str,
    region: &str,
    account: &str,
    distribution_id: &str,
) -> Value {
    let p = partition(region);
    json!({
        "Sid": statement_id(stack, region),
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": format!("arn:{p}:s3:::{bucket}/*"),
        "Condition": {"StringEquals": {
            "AWS:SourceArn": format!("arn:{p}:cloudfront::{account}:distribution/{distribution_id}")
        }}
    })
}

/// `policy` with the statement `sid` replaced by `statement` (or removed, for `None`),
/// every other statement kept as it was. `None` back when nothing would change.
pub fn merged(
    policy: Option<&str>,
    sid: &str,
    statement: Option<Value>,
) -> Result<Option<Value>, String> {
    let mut doc: Value = match policy {
        Some(text) if !text.trim().is_empty() => {
            serde_json::from_str(text).map_err(|e| format!("the bucket policy is not JSON: {e}"))?
        }
        _ => json!({"Version": "2012-10-17", "Statement": []}),
    };
    let obj = doc
        .as_object_mut()
        .ok_or("the bucket policy is not a JSON object")?;
    let mut statements = match obj.remove("Statement") {
        Some(Value::Array(list)) => list,
        Some(single @ Value::Object(_)) => vec![single],
        None => Vec::new(),
        Some(_) => {
            return Err("the bucket policy's `Statement` is neither a list nor an object".into());
        }
    };
    let before = statements.clone();
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
    statements.extend(statement);
    if statements == before {
        obj.insert("Statement".into(), Value::Array(statements));
        return Ok(None);
    }
    obj.insert("Statement".into(), Value::Array(statements));
    Ok(Some(doc))
}

/// How many statements a policy document has.
pub fn statement_count(doc: &Value) -> usize {
    doc.get("Statement")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// The bucket's policy text, `None` when it has none.
pub async fn policy(s3: &Client, bucket: &str) -> Result<Option<String>, CliError> {
    match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(r) => Ok(r.policy().map(str::to_string)),
        Err(e) if matches!(error_code(&e), Some("NoSuchBucketPolicy")) => Ok(None),
        Err(e) => Err(sdk_error(
            &format!("cannot read the policy of s3://{bucket}"),
            e,
        )),
    }
}

/// Puts `sid`'s statement in place (or takes it out, for `None`), keeping every other
/// statement of the bucket's policy. Whether the policy changed.
pub async fn set_statement(
    s3: &Client,
    bucket: &str,
    sid: &str,
    statement: Option<Value>,
) -> Result<bool, CliError> {
    let current = policy(s3, bucket).await?;
    let doc = merged(current.as_deref(), sid, statement).map_err(|e| {
        CliError::new(format!("cannot update the policy of s3://{bucket}: {e}"))
            .hint("fix the bucket policy by hand (S3 console, Permissions), then run again")
    })?;
    let Some(doc) = doc else {
        return Ok(false);
    };
    if statement_count(&doc) == 0 {
        s3.delete_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot delete the policy of s3://{bucket}"), e))?;
    } else {
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(doc.to_string())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("cannot update the policy of s3://{bucket}"), e))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_statements_are_kept() {
        let owner = r#"{"Version":"2012-10-17","Statement":{"Sid":"Theirs","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#;
        let sid = statement_id("imgflex", "eu-west-1");
        assert_eq!(sid, "ImgflexCloudFrontReadimgflexeuwest1");
        let ours = read_statement("b", "imgflex", "eu-west-1", "123456789012", "E123");
        let doc = merged(Some(owner), &sid, Some(ours.clone()))
            .unwrap()
            .unwrap();
        let list = doc["Statement"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["Sid"], "Theirs");
        assert_eq!(list[1], ours);
        assert_eq!(
            ours["Condition"]["StringEquals"]["AWS:SourceArn"],
            "arn:aws:cloudfront::123456789012:distribution/E123"
        );
        // Again: nothing to change.
        assert_eq!(
            merged(Some(&doc.to_string()), &sid, Some(ours.clone())).unwrap(),
            None
        );
        // A new distribution replaces our statement, never adds a second one.
        let newer = read_statement("b", "imgflex", "eu-west-1", "123456789012", "E999");
        let doc2 = merged(Some(&doc.to_string()), &sid, Some(newer))
            .unwrap()
            .unwrap();
        assert_eq!(statement_count(&doc2), 2);
        // Removal leaves the owner's statement alone.
        let doc3 = merged(Some(&doc2.to_string()), &sid, None)
            .unwrap()
            .unwrap();
        assert_eq!(doc3["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(doc3["Statement"][0]["Sid"], "Theirs");
        // No policy at all: ours alone; removing from nothing changes nothing.
        let fresh = merged(None, &sid, Some(ours)).unwrap().unwrap();
        assert_eq!(statement_count(&fresh), 1);
        assert_eq!(merged(None, &sid, None).unwrap(), None);
        assert!(merged(Some("not json"), &sid, None).is_err());
    }

    #[test]
    fn tags_mark_a_bucket_of_one_stack_and_region() {
        let tags: HashMap<String, String> = [
            (TAG_STACK, "imgflex"),
            (TAG_REGION, "eu-west-1"),
            (TAG_ROLE, ROLE_ORIGINALS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(is_ours(&tags, "imgflex", "eu-west-1", ROLE_ORIGINALS));
        assert!(!is_ours(&tags, "imgflex", "us-east-2", ROLE_ORIGINALS));
        assert!(!is_ours(
            &tags,
            "imgflex-staging",
            "eu-west-1",
            ROLE_ORIGINALS
        ));
        assert!(!is_ours(&tags, "imgflex", "eu-west-1", ROLE_LOGS));
    }
}
