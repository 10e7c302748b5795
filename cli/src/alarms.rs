//! The stack's CloudWatch alarms and their states: the handler's in the stack's region, the
//! CDN's and the WAF's in us-east-1, each named after the stack that made it.

use serde::Serialize;

use crate::aws::{Aws, sdk_error};
use crate::error::CliError;

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub name: String,
    pub region: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
    pub since: Option<String>,
    pub metric: Option<String>,
}

impl Alarm {
    pub fn firing(&self) -> bool {
        self.state == "ALARM"
    }
}

/// The metric alarms whose names start with `prefix` in `region` (every page).
pub async fn read(aws: &Aws, region: &str, prefix: &str) -> Result<Vec<Alarm>, CliError> {
    let mut alarms = Vec::new();
    let mut pages = aws
        .cloudwatch_in(region)
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| sdk_error(&format!("cannot read the alarms in {region}"), e))?;
        alarms.extend(page.metric_alarms().iter().map(|a| alarm(a, region)));
    }
    Ok(alarms)
}

fn alarm(a: &aws_sdk_cloudwatch::types::MetricAlarm, region: &str) -> Alarm {
    Alarm {
        name: a.alarm_name().unwrap_or_default().to_string(),
        region: region.to_string(),
        state: a
            .state_value()
            .map_or_else(|| "INSUFFICIENT_DATA".into(), |s| s.as_str().to_string()),
        reason: a.state_reason().map(str::to_string),
        since: a.state_updated_timestamp().map(ToString::to_string),
        metric: match (a.namespace(), a.metric_name()) {
            (Some(ns), Some(m)) => Some(format!("{ns} {m}")),
            // A metric-math alarm (the p99 duration against the timeout).
            _ => a
                .metrics()
                .iter()
                .find_map(|q| q.metric_stat())
                .and_then(|s| s.metric())
                .map(|m| {
                    format!(
                        "{} {} (math)",
                        m.namespace().unwrap_or_default(),
                        m.metric_name().unwrap_or_default()
                    )
                }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_cbor::Encoder;
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;

    /// DescribeAlarms speaks Smithy RPC v2 CBOR, which moto does not: recorded exchanges,
    /// two pages, one a metric-math alarm.
    fn page(alarms: &[(&str, &str, bool)], next: Option<&str>) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(if next.is_some() { 2 } else { 1 });
        e.str("MetricAlarms").array(alarms.len());
        for (name, state, math) in alarms {
            e.map(4);
            e.str("AlarmName").str(name);
            e.str("StateValue").str(state);
            e.str("StateReason").str("Threshold Crossed");
            if *math {
                e.str("Metrics").array(1).map(2);
                e.str("Id").str("m1");
                e.str("MetricStat").map(1).str("Metric").map(2);
                e.str("Namespace").str("AWS/Lambda");
                e.str("MetricName").str("Duration");
            } else {
                e.str("MetricName").str("Errors");
            }
        }
        if let Some(next) = next {
            e.str("NextToken").str(next);
        }
        e.into_writer()
    }

    fn event(body: Vec<u8>) -> ReplayEvent {
        ReplayEvent::new(
            http::Request::builder()
                .uri("https://monitoring.eu-west-1.amazonaws.com/service/GraniteServiceVersion20100801/operation/DescribeAlarms")
                .body(SdkBody::empty())
                .unwrap_or_else(|e| panic!("{e}")),
            http::Response::builder()
                .status(200)
                .header("content-type", "application/cbor")
                .header("smithy-protocol", "rpc-v2-cbor")
                .body(SdkBody::from(body))
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn every_page_of_alarms_is_read_with_its_state() {
        let replay = StaticReplayClient::new(vec![
            event(page(&[("s-handler-errors", "ALARM", false)], Some("t1"))),
            event(page(&[("s-handler-duration", "OK", true)], None)),
        ]);
        let aws = Aws::replaying(replay.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let alarms = rt
            .block_on(read(&aws, "eu-west-1", "s-"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].name, "s-handler-errors");
        assert!(alarms[0].firing());
        assert_eq!(alarms[0].reason.as_deref(), Some("Threshold Crossed"));
        assert_eq!(alarms[1].state, "OK");
        assert_eq!(
            alarms[1].metric.as_deref(),
            Some("AWS/Lambda Duration (math)")
        );
        // The requests: the prefix on both, the second with the first's token.
        let requests = replay.actual_requests().collect::<Vec<_>>();
        assert_eq!(requests.len(), 2);
        let bodies: Vec<Vec<u8>> = requests
            .iter()
            .map(|r| r.body().bytes().unwrap_or_default().to_vec())
            .collect();
        let has = |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(has(&bodies[0], "AlarmNamePrefix") && has(&bodies[0], "s-"));
        assert!(!has(&bodies[0], "t1"));
        assert!(has(&bodies[1], "NextToken") && has(&bodies[1], "t1"));
    }
}
