//! `grantd demo`: the daemon against the built-in emulator, with a real client.
//!
//! Starts the emulator with the scenario of the AWS blog on Access Grants with
//! SageMaker (RoleA may read and write `UserA/*` and `Product/*`, not `UserB/*`),
//! starts the daemon against it through the ordinary upstream code path (the
//! endpoints are set as `AWS_ENDPOINT_URL_*` would set them), has the AWS SDK
//! for Rust fetch credentials in a child process with only environment
//! variables, shows a denial, prints the `export` lines for another shell, and
//! serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::{oneshot, watch};

use crate::cache::CacheSettings;
use crate::client;
use crate::clock::SystemClock;
use crate::config::{self, Files, LogFormat, ProcessEnv, Settings};
use crate::logging::LogSettings;
use crate::profile::{Profile, Profiles};
use crate::report::Report;
use crate::s3::S3Settings;
use crate::scope::{DataAccessRequest, Permission, S3Target};
use crate::server::ServerSettings;
use crate::upstream::aws::AwsSettings;
use grantd_emulator::{DEMO_BUCKET, DEMO_ROLE_A_KEY_ID, DEMO_ROLE_A_SECRET, Emulator, Scenario};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address for the daemon; if taken, a free port is used instead
    #[arg(long, default_value = "127.0.0.1:7911")]
    listen: SocketAddr,
    /// Token file [default: as for grantd serve]
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Exit after the walkthrough instead of serving until Ctrl-C
    #[arg(long)]
    once: bool,
}

fn profile(name: &str, prefix: &str, permission: Permission) -> Profile {
    let target =
        S3Target::parse(&format!("s3://{DEMO_BUCKET}/{prefix}")).expect("demo targets are valid");
    Profile {
        name: name.into(),
        request: DataAccessRequest::new(target, permission),
    }
}

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

pub async fn main(args: DemoArgs) -> i32 {
    crate::logging::init(LogFormat::Text, None, "warn");
    match walkthrough(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("grantd demo: {e}");
            1
        }
    }
}

async fn walkthrough(args: DemoArgs) -> Result<(), String> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // 1. The emulator: S3 Control + STS on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the emulator: {e}"))?;
    let emu_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let emulator = Emulator::new(Scenario::demo(), Arc::new(SystemClock));
    tokio::spawn(grantd_emulator::run(
        listener,
        emulator,
        stopped(stop_rx.clone()),
    ));
    let emu_url = format!("http://{emu_addr}");
    say(format!(
        "▸ S3 Control + STS emulator on {emu_url} (bucket {DEMO_BUCKET})"
    ));
    say("  RoleA is granted READWRITE on Product/* and UserA/*; nothing on UserB/*");

    // 2. The daemon, as `grantd serve` would run with AWS_ENDPOINT_URL_S3_CONTROL/STS set.
    let listen = match std::net::TcpListener::bind(args.listen) {
        Ok(probe) => {
            drop(probe);
            args.listen
        }
        Err(_) => {
            say(format!("  ({} is taken; using a free port)", args.listen));
            SocketAddr::new(args.listen.ip(), 0)
        }
    };
    let base = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
        DEMO_ROLE_A_KEY_ID,
        DEMO_ROLE_A_SECRET,
        None,
        None,
        "grantd-demo",
    ));
    let settings = Settings {
        config_file: None,
        server: ServerSettings {
            listen,
            imds: true,
            ..ServerSettings::default()
        },
        s3: S3Settings::default(),
        files: Files {
            addr_file: None,
            token_file: args
                .token_file
                .unwrap_or_else(|| config::default_token_file(&ProcessEnv)),
            token: None,
        },
        upstream: AwsSettings {
            region: Some("us-east-1".into()),
            account_id: None,
            s3control_endpoint: Some(emu_url.clone()),
            sts_endpoint: Some(emu_url.clone()),
            credentials: Some(base),
            audit_context: None,
        },
        cache: CacheSettings::default(),
        logging: LogSettings::default(),
        profiles: Profiles {
            default: Some("usera".into()),
            list: vec![
                profile("usera", "UserA/*", Permission::ReadWrite),
                profile("product", "Product/*", Permission::Read),
            ],
        },
    };
    let token_file = settings.files.token_file.clone();
    let (bound_tx, bound_rx) = oneshot::channel();
    let daemon = tokio::spawn(crate::daemon::serve(
        settings,
        None,
        stopped(stop_rx.clone()),
        move |addr, _| {
            let _ = bound_tx.send(addr);
        },
    ));
    let addr = match bound_rx.await {
        Ok(a) => a,
        Err(_) => {
            let err = daemon.await.map_err(|e| e.to_string())?.err();
            return Err(err
                .map(|e| Report(&e).to_string())
                .unwrap_or_else(|| "the daemon did not start".into()));
        }
    };
    client::wait_ready(
        || Ok(client::Daemon::local(addr)),
        std::time::Duration::from_secs(10),
    )
    .await
    .map_err(|e| Report(&e).to_string())?;
    say(format!(
        "▸ grantd serving on http://{addr} as RoleA (token in {})",
        token_file.display()
    ));

    // 3. A real client: the AWS SDK for Rust's default chain, in its own process.
    let full_uri = format!("http://{addr}/v1/credentials/usera");
    say(
        "▸ AWS SDK for Rust, default credential chain, AWS_CONTAINER_CREDENTIALS_FULL_URI=…/v1/credentials/usera:",
    );
    say(format!("  {}", sdk_probe(&full_uri, &token_file).await?));
    let inside = format!(
        "http://{addr}/v1/credentials?target=s3://{DEMO_BUCKET}/UserA/notebooks/*&permission=READWRITE"
    );
    say("▸ same client, a scope inside the UserA grant (served from the same cache entry):");
    say(format!("  {}", sdk_probe(&inside, &token_file).await?));

    // 4. A denial, as any client sees it.
    let token = crate::token::read(&token_file)
        .map_err(|e| Report(&e).to_string())?
        .ok_or("token file vanished")?;
    let denied = format!("/v1/credentials?target=s3://{DEMO_BUCKET}/UserB/*&permission=READ");
    let (status, body) = client::get(client::Daemon::local(addr), &denied, Some(token.expose()))
        .await
        .map_err(|e| Report(&e).to_string())?;
    say(format!(
        "▸ UserB/* for RoleA → {}",
        client::error_text(status, &body)
    ));
    let (_, calls) = client::get(client::Daemon::local(emu_addr), "/_emulator/calls", None)
        .await
        .map_err(|e| Report(&e).to_string())?;
    let calls: serde_json::Value = serde_json::from_slice(&calls).unwrap_or_default();
    say(format!(
        "▸ upstream calls so far: {}",
        calls.get("counts").cloned().unwrap_or_default()
    ));

    // 5. For another shell.
    say("");
    say("In another shell, point any AWS SDK at grantd:");
    print!(
        "{}",
        client::env_lines(addr, "/v1/credentials/usera", &token_file)
    );
    say(
        "then e.g.: python3 -c 'import boto3; print(boto3.Session().get_credentials().access_key)'",
    );
    if args.once {
        let _ = stop_tx.send(true);
    } else {
        say("Serving until Ctrl-C.");
        grantd_common::shutdown::signal()
            .map_err(|e| format!("cannot install signal handlers: {e}"))?
            .await;
        let _ = stop_tx.send(true);
    }
    match daemon.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Report(&e).to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn sdk_probe(full_uri: &str, token_file: &std::path::Path) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = tokio::process::Command::new(exe)
        .arg("sdk-probe")
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .map_err(|e| format!("cannot run the SDK probe: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "the SDK probe failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
