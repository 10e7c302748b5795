//! The AWS side of the CLI: one SDK configuration from the global flags, the clients built
//! from it, and SDK failures turned into one message that says what to do.

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::config::ProvideCredentials;
use aws_types::request_id::RequestId;

use imgflex_core::error_chain as chain;

use crate::cli::GlobalArgs;
use crate::error::CliError;

/// CloudFront, its WAF web ACLs and its certificates live in us-east-1 whatever the
/// region of the stack.
pub const EDGE_REGION: &str = "us-east-1";

/// The `--poll-ms` override, set once by `Aws::connect`.
static POLL: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// How long to wait between two polls of something AWS is working on: `default` (what
/// suits AWS) unless `--poll-ms` / `IMGFLEX_POLL_MS` says otherwise.
pub fn poll_interval(default: Duration) -> Duration {
    POLL.get().copied().unwrap_or(default)
}

/// Every call ends within about a minute when AWS (or `--endpoint-url`) stops answering: a
/// connection within 5 s, each response's first byte within 15 s, three attempts with the
/// standard backoff between them. Reads only, not whole operations: an upload of a large
/// part over a slow link may take as long as it needs while bytes keep flowing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_ATTEMPTS: u32 = 3;

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
}

/// An SDK configuration known to have a region and credentials.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    region: String,
    /// Set in tests (a moto server): S3 then needs path-style addressing.
    endpoint: Option<String>,
}

impl Aws {
    /// Loads credentials and region the way the AWS CLI does (flags, environment, profile,
    /// SSO, instance role) and checks both are there before any call is made.
    pub async fn connect(global: &GlobalArgs) -> Result<Aws, CliError> {
        if let Some(ms) = global.poll_ms {
            let _ = POLL.set(Duration::from_millis(ms));
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(imgflex_handler::s3::https_client())
            .timeout_config(timeouts())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = &global.region {
            check_region(region, "--region")?;
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &global.profile {
            check_profile(profile).await?;
            // As the AWS CLI: a profile named on the command line wins over credentials in
            // the environment (the SDK's default chain reads the environment first).
            // Its own provider config: the one it would build has no HTTP client (the SDK's
            // default client is not compiled in) for SSO or assume-role profiles.
            let provider_config = ProviderConfig::without_region()
                .with_http_client(imgflex_handler::s3::https_client())
                .with_region(global.region.clone().map(Region::new));
            loader = loader.profile_name(profile).credentials_provider(
                ProfileFileCredentialsProvider::builder()
                    .profile_name(profile)
                    .configure(&provider_config)
                    .build(),
            );
        }
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region = config.region().map(ToString::to_string).ok_or_else(|| {
            CliError::new("no AWS region is configured").hint(
                "pass `--region us-east-1` (or the region you want), set `AWS_REGION`, \
                 or set `region` in your profile with `aws configure`",
            )
        })?;
        check_region(&region, "the configured region (AWS_REGION or the profile)")?;
        let provider = config.credentials_provider().ok_or_else(no_credentials)?;
        if let Err(e) = provider.provide_credentials().await {
            let why = chain(&e);
            let err = match &global.profile {
                Some(profile) => {
                    CliError::new(format!("no AWS credentials from the profile `{profile}`"))
                }
                None => no_credentials(),
            };
            return Err(err.hint(format!("{NO_CREDENTIALS_HINT}; ({why})")));
        }
        Ok(Aws {
            config,
            region,
            endpoint: global.endpoint_url.clone(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Clients on a replay HTTP client (recorded exchanges), for tests of services or calls
    /// moto does not have.
    #[cfg(test)]
    pub fn replaying(http: aws_smithy_http_client::test_util::StaticReplayClient) -> Aws {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
                aws_sdk_lambda::config::Credentials::for_tests(),
            ))
            .http_client(http)
            .build();
        Aws {
            config,
            region: "eu-west-1".into(),
            endpoint: None,
        }
    }

    /// The account the credentials belong to, from STS: the first call, so a bad key fails
    /// here with a clear message rather than halfway through a deploy.
    pub async fn account(&self) -> Result<String, CliError> {
        let identity = aws_sdk_sts::Client::new(&self.config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error("cannot identify the AWS account (sts:GetCallerIdentity)", e))?;
        Ok(identity.account().unwrap_or("unknown").to_string())
    }

    fn in_region(&self, region: &str) -> SdkConfig {
        self.config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn cloudformation_in(&self, region: &str) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.in_region(region))
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(self.endpoint.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// S3 in another region (the edge stack's bucket in us-east-1).
    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.in_region(region))
            .force_path_style(self.endpoint.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// CloudFront only uses certificates from us-east-1's ACM.
    pub fn acm_edge(&self) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.in_region(EDGE_REGION))
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config)
    }

    /// CloudFront is global; its API is served from us-east-1.
    pub fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        aws_sdk_cloudfront::Client::new(&self.in_region(EDGE_REGION))
    }

    /// SSM Parameter Store, where the signing keys' secrets are kept.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    /// The KeyValueStore data plane (global; SigV4A signs it for every region).
    pub fn keyvaluestore(&self) -> aws_sdk_cloudfrontkeyvaluestore::Client {
        aws_sdk_cloudfrontkeyvaluestore::Client::new(&self.in_region(EDGE_REGION))
    }

    /// CloudWatch in `region`: the handler's alarms are in the stack's region, the CDN's
    /// and the WAF's in us-east-1 (where those services put their metrics).
    pub fn cloudwatch_in(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.in_region(region))
    }

    /// CloudWatch Logs, where the handler writes its lines.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    /// Web ACLs of scope CLOUDFRONT are only visible from us-east-1.
    pub fn wafv2_edge(&self) -> aws_sdk_wafv2::Client {
        aws_sdk_wafv2::Client::new(&self.in_region(EDGE_REGION))
    }
}

/// A profile named with `--profile` exists in the profile files (`~/.aws/config`,
/// `~/.aws/credentials`, or where `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` say):
/// the SDK would only find out at the first call, and then as a vague "no credentials".
async fn check_profile(profile: &str) -> Result<(), CliError> {
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        Some(profile.to_string().into()),
    )
    .await
    .map_err(|e| {
        CliError::new(format!("cannot read the AWS profile files: {}", chain(&e)))
            .hint("fix the file named above (`aws configure` rewrites it), or leave out --profile")
    })?;
    if set.get_profile(profile).is_none() {
        let known: Vec<&str> = set.profiles().collect();
        return Err(
            CliError::new(format!("the AWS profile `{profile}` does not exist")).hint(
                if known.is_empty() {
                    "no profiles are configured: create one with `aws configure --profile NAME`, or leave out --profile".to_string()
                } else {
                    format!(
                        "the profiles here are {}; pick one, or leave out --profile",
                        known.join(", ")
                    )
                },
            ),
        );
    }
    Ok(())
}

/// A region code's shape, checked before any call (see `regions::is_region_code`).
pub fn check_region(region: &str, from: &str) -> Result<(), CliError> {
    if crate::regions::is_region_code(region) {
        return Ok(());
    }
    Err(CliError::new(format!(
        "`{region}` ({from}) is not an AWS region"
    ))
    .hint("use a region code such as `us-east-1` or `eu-west-1` (`aws ec2 describe-regions` lists them)"))
}

const NO_CREDENTIALS_HINT: &str = "run `aws configure` (or `aws sso login --profile NAME` and pass \
     `--profile NAME`), or set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`";

fn no_credentials() -> CliError {
    CliError::new("no AWS credentials found").hint(NO_CREDENTIALS_HINT)
}

/// The service's error code, when the failure is an answer from the service.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// One clear message for a failed AWS call: `what` was being done, then why, then how to
/// fix the failures users can fix (credentials, permissions, reaching the endpoint).
pub fn sdk_error<E>(what: &str, err: SdkError<E, HttpResponse>) -> CliError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let mut cli_error = sdk_error_message(what, &err);
    // Only an answer has a request id (a timeout or an unreachable endpoint has none).
    if let Some(id) = err.request_id() {
        cli_error.message = format!("{} (request id {id})", cli_error.message);
    }
    cli_error.detail(chain(&err))
}

fn sdk_error_message<E>(what: &str, err: &SdkError<E, HttpResponse>) -> CliError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            // A service answer without a code or message (an HTML error page, an endpoint
            // that is not AWS's) is told by its HTTP status.
            let code = e
                .code()
                .map_or_else(|| format!("HTTP {status}"), str::to_string);
            let message = e.message().map_or_else(
                || "(the service gave no message)".to_string(),
                str::to_string,
            );
            let err = CliError::new(format!("{what}: {code}: {message}"));
            let code = code.as_str();
            match code {
                "ExpiredToken"
                | "ExpiredTokenException"
                | "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "SignatureDoesNotMatch" => err.hint(
                    "your AWS credentials are not valid (expired or mistyped): \
                     refresh them (`aws sso login`, or new keys) and run again",
                ),
                "AccessDenied" | "AccessDeniedException" | "AuthorizationError" => err.hint(
                    "the credentials lack a permission: deploying needs CloudFormation, S3, \
                     Lambda, IAM, CloudFront and WAF rights (see the README's AWS section)",
                ),
                _ => err,
            }
        }
        SdkError::TimeoutError(_) => CliError::new(format!(
            "{what}: AWS did not answer in time ({MAX_ATTEMPTS} attempts, {} s each): {}",
            READ_TIMEOUT.as_secs(),
            chain(err)
        ))
        .hint("check the network (and `--endpoint-url`, if you passed one), then run again"),
        SdkError::DispatchFailure(d) if d.is_timeout() => CliError::new(format!(
            "{what}: AWS did not answer in time ({MAX_ATTEMPTS} attempts): {}",
            chain(err)
        ))
        .hint("check the network (and `--endpoint-url`, if you passed one), then run again"),
        SdkError::DispatchFailure(_) => {
            CliError::new(format!("{what}: cannot reach AWS: {}", chain(err)))
                .hint("check the network (and `--endpoint-url`, if you passed one)")
        }
        _ => CliError::new(format!("{what}: {}", chain(err))),
    }
}

/// A runtime for one command: the CLI is synchronous, the SDK is not.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))
}
