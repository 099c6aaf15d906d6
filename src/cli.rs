//! The command line: `serve`, `env`, `creds`, `check`, `ready`, `ls`, `status`,
//! `reload`, `emulate`, `demo`.
//!
//! Parses arguments, initialises logging (through [`crate::logging`]), and
//! hands each command to its module.
//! Exit codes: 0 success, 1 failure, 64 bad configuration, 69 daemon unreachable.

use std::io::Write;

use clap::{Args, Parser, Subcommand};

use crate::client::{self, EXIT_UNAVAILABLE, Format, Selection};
use crate::config::{self, Flags, LogFormat, ProcessEnv, Settings};
use crate::daemon::{self, EXIT_CONFIG};
use crate::logging;
use crate::report::Report;

#[derive(Parser, Debug)]
#[command(
    name = "grantd",
    version,
    about = "Per-host credential-vending sidecar for S3 Access Grants",
    long_about = "grantd holds this host's AWS identity, calls S3 Access Grants GetDataAccess for the S3 scopes local \
processes ask for, caches and refreshes the scoped credentials, and serves them on loopback in the formats every \
AWS SDK reads (AWS_CONTAINER_CREDENTIALS_FULL_URI, IMDSv2)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground until SIGTERM/SIGINT
    Serve(Flags),
    /// Print the shell lines a client process needs to use the running daemon
    Env(EnvArgs),
    /// Fetch credentials from the running daemon once
    Creds(CredsArgs),
    /// Validate the configuration and print the resolved settings (never secrets)
    Check(Flags),
    /// Wait until the running daemon is ready to vend (exit 0), or time out (exit 69)
    Ready(ReadyArgs),
    /// List the S3 Access Grants this identity holds (ListCallerAccessGrants); no daemon needed
    Ls(crate::ls::LsArgs),
    /// Show what the running daemon holds now: scopes, their state, the upstream, the base identity
    Status(StatusArgs),
    /// Make the running daemon re-read its configuration (as SIGHUP does); exit 64 if it is refused
    Reload(ReloadArgs),
    /// Run the S3 Control + STS emulator (offline development and tests)
    Emulate(grantd_emulator::EmulateArgs),
    /// Run the daemon against the built-in emulator and show a real client using it
    Demo(crate::demo::DemoArgs),
    /// Load credentials through the AWS SDK for Rust's default chain and print the key id (for tests)
    #[command(hide = true)]
    SdkProbe,
}

#[derive(Args, Debug)]
struct ClientArgs {
    #[command(flatten)]
    daemon: Flags,
    /// A profile from the config file
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// An S3 scope, e.g. s3://bucket/prefix/*
    #[arg(long, value_name = "S3URI")]
    target: Option<String>,
    /// READ, WRITE or READWRITE (with --target)
    #[arg(long, value_name = "P")]
    permission: Option<String>,
    /// Default or Minimal (with --target)
    #[arg(long, value_name = "PRIVILEGE")]
    privilege: Option<String>,
    /// Credential lifetime in seconds, 900 to 43200 (with --target)
    #[arg(long, value_name = "SECONDS")]
    duration: Option<u32>,
}

impl ClientArgs {
    fn selection(&self) -> Selection {
        Selection {
            profile: self.profile.clone(),
            target: self.target.clone(),
            permission: self.permission.clone(),
            privilege: self.privilege.clone(),
            duration: self.duration,
        }
    }
}

#[derive(Args, Debug)]
struct EnvArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The S3 endpoint instead: the daemon's own identity for every AWS call,
    /// AWS_ENDPOINT_URL_S3 for S3, a grant chosen per request
    #[arg(long, conflicts_with_all = ["profile", "target", "permission", "privilege", "duration"])]
    s3: bool,
    /// With --s3: write a Spark configuration for s3a through the S3 endpoint here
    /// (Spark's own settings kept) and point SPARK_CONF_DIR at it
    #[arg(long, value_name = "DIR", requires = "s3")]
    spark_conf_dir: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct ReadyArgs {
    #[command(flatten)]
    daemon: Flags,
    /// Seconds to wait for /readyz to answer 200
    #[arg(long, default_value = "30", value_name = "SECONDS")]
    wait: u64,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    daemon: Flags,
    /// Output: table (for a person) or json (the daemon's answer, for scripts)
    #[arg(long, value_enum, default_value = "table")]
    format: crate::status::render::StatusFormat,
}

#[derive(Args, Debug)]
struct ReloadArgs {
    #[command(flatten)]
    daemon: Flags,
}

#[derive(Args, Debug)]
struct CredsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Output: json (the daemon's answer), env (export lines), process (credential_process, Version 1)
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

/// Most async worker threads. Defaults to 2 (fewer on a one-core host).
///
/// tokio starts one worker per core by default: 64 threads on a 64-core
/// host, each with its own stack and, once it allocates, its own malloc
/// arena, for a loopback daemon whose warm vend is a cache lookup and the
/// body written into one exact-size buffer from what was prepared once per
/// credential generation. Two workers answered over 50,000 warm vends a
/// second here (`benches/load.sh`, 2 cores), far beyond what one host's SDK
/// clients ask for; upstream calls wait on the network, not on a core.
pub const MAX_WORKER_THREADS: usize = 2;

/// Parses the command line and runs the command; returns the exit code.
pub fn main() -> i32 {
    // Before anything holds a secret: no core file can then hold the token
    // or credentials, no process of the same user can ptrace this one or
    // read its memory or environment, and its /proc files stay root's.
    if let Err(e) = not_dumpable() {
        eprintln!("grantd: cannot make the process undumpable (prctl PR_SET_DUMPABLE): {e}");
        return 1;
    }
    let cli = Cli::parse();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(MAX_WORKER_THREADS))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("grantd: cannot start the async runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(run(cli.command))
}

/// `prctl(PR_SET_DUMPABLE, 0)` for this process: every command may hold the
/// token or credentials (`serve` holds every credential it vends).
pub fn not_dumpable() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, set_dumpable_behavior};
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(std::io::Error::from)
}

async fn run(command: Command) -> i32 {
    match command {
        Command::Serve(flags) => serve(flags).await,
        Command::Check(flags) => check(flags),
        Command::Env(args) => env(args).await,
        Command::Creds(args) => creds(args).await,
        Command::Ready(args) => ready(args).await,
        Command::Ls(args) => crate::ls::main(args).await,
        Command::Status(args) => status(args).await,
        Command::Reload(args) => reload(args).await,
        Command::Emulate(args) => {
            logging::init(LogFormat::Text, None, "info");
            grantd_emulator::main(args).await
        }
        Command::Demo(args) => crate::demo::main(args).await,
        Command::SdkProbe => sdk_probe().await,
    }
}

fn resolve(flags: &Flags) -> Result<Settings, i32> {
    config::resolve(flags, &ProcessEnv).map_err(|errors| {
        report_config_errors(&errors);
        EXIT_CONFIG
    })
}

/// The settings to find the running daemon with, even from a configuration
/// with problems (a bad edit must not keep `status` or `reload` from the
/// daemon, which keeps the configuration it runs with).
fn resolve_to_ask(command: &str, flags: &Flags) -> Settings {
    let (settings, problems) = config::resolve_anyway(flags, &ProcessEnv);
    if !problems.is_empty() {
        eprintln!(
            "grantd {command}: warning: the configuration has {} problem(s) (grantd check lists \
             them); asking the daemon with the rest",
            problems.len()
        );
    }
    settings
}

fn report_config_errors(errors: &[String]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "grantd: invalid configuration ({} problem{}):",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        let _ = writeln!(err, "  - {e}");
    }
}

async fn serve(flags: Flags) -> i32 {
    let settings = match resolve(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    logging::init(
        settings.logging.format,
        settings.logging.level.as_deref(),
        "info",
    );
    let shutdown = match grantd_common::shutdown::signal() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("grantd: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let origin = crate::reload::ConfigOrigin {
        flags,
        env: Box::new(ProcessEnv),
    };
    match daemon::serve(settings, Some(origin), shutdown, |_, _| {}).await {
        Ok(()) => 0,
        Err(e) => {
            if e.exit_code() == EXIT_CONFIG {
                report_config_errors(&[Report(&e).to_string()]);
            } else {
                eprintln!("grantd: {}", Report(&e));
            }
            e.exit_code()
        }
    }
}

fn check(flags: Flags) -> i32 {
    let settings = match resolve(&flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(e) = crate::token::check(&settings.files.token_file) {
        report_config_errors(&[Report(&e).to_string()]);
        return EXIT_CONFIG;
    }
    print!("{}", config::describe(&settings));
    0
}

async fn env(args: EnvArgs) -> i32 {
    let settings = match resolve(&args.client.daemon) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let path = match args.s3 {
        true => Ok(client::BASE_CREDENTIALS_PATH.to_string()),
        false => client::credentials_path(&args.client.selection()),
    };
    let path = match path {
        Ok(p) => p,
        Err(e) => {
            eprintln!("grantd env: {}", Report(&e));
            return EXIT_CONFIG;
        }
    };
    let daemon = match client::daemon(&settings) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("grantd env: {}", Report(&e));
            return EXIT_UNAVAILABLE;
        }
    };
    if !args.s3 {
        match client::get(daemon, "/healthz", None).await {
            // The lines would point every SDK at another user's listener.
            Err(e) if e.is_untrusted_listener() => {
                eprintln!("grantd env: {}", Report(&e));
                return EXIT_UNAVAILABLE;
            }
            Err(e) => eprintln!("grantd env: warning: {}", Report(&e)),
            Ok(_) => {}
        }
        print!(
            "{}",
            client::env_lines(daemon.addr, &path, &settings.files.token_file)
        );
        return 0;
    }
    match client::s3_endpoint(daemon, settings.s3.listen).await {
        Ok(s3) => {
            if let Some(dir) = &args.spark_conf_dir
                && let Err(e) = client::spark::write(dir, &s3, &ProcessEnv)
            {
                eprintln!(
                    "grantd env --s3: cannot write the Spark configuration in {}: {e}",
                    dir.display()
                );
                return 1;
            }
            let spark = args.spark_conf_dir.as_deref();
            print!(
                "{}",
                client::s3_env_lines(daemon.addr, &s3, &settings.files.token_file, spark)
            );
            0
        }
        Err(e) => {
            eprintln!("grantd env --s3: {}", Report(&e));
            EXIT_UNAVAILABLE
        }
    }
}

async fn creds(args: CredsArgs) -> i32 {
    let settings = match resolve(&args.client.daemon) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let path = match client::credentials_path(&args.client.selection()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("grantd creds: {}", Report(&e));
            return EXIT_CONFIG;
        }
    };
    match ask(&settings, "creds", hyper::Method::GET, &path).await {
        Ok((200, body)) => match client::render(&body, args.format) {
            Ok(out) => {
                print!("{out}");
                0
            }
            Err(e) => {
                eprintln!("grantd creds: {}", Report(&e));
                1
            }
        },
        Ok((status, body)) => {
            eprintln!("grantd creds: {}", client::error_text(status, &body));
            1
        }
        Err(code) => code,
    }
}

/// One request to the running daemon with its token; on failure, the
/// message printed as `grantd COMMAND: …` and the exit code.
async fn ask(
    settings: &Settings,
    command: &str,
    method: hyper::Method,
    path: &str,
) -> Result<(u16, bytes::Bytes), i32> {
    // GRANTD_TOKEN, when given, is the daemon's token on every instance.
    let given = settings.files.token.clone().map(Some).map(Ok);
    let token = match given.unwrap_or_else(|| crate::token::read(&settings.files.token_file)) {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!(
                "grantd {command}: no token at {}; is grantd serve running?",
                settings.files.token_file.display()
            );
            return Err(EXIT_UNAVAILABLE);
        }
        Err(e) => {
            eprintln!("grantd {command}: {}", Report(&e));
            return Err(EXIT_CONFIG);
        }
    };
    let result = match client::daemon(settings) {
        Ok(daemon) => client::send(daemon, method, path, Some(token.expose())).await,
        Err(e) => Err(e),
    };
    result.map_err(|e| {
        eprintln!("grantd {command}: {}", Report(&e));
        EXIT_UNAVAILABLE
    })
}

async fn status(args: StatusArgs) -> i32 {
    let settings = resolve_to_ask("status", &args.daemon);
    match ask(&settings, "status", hyper::Method::GET, "/v1/status").await {
        Ok((200, body)) => match crate::status::render::render(&body, args.format) {
            Ok(out) => {
                print!("{out}");
                0
            }
            Err(e) => {
                eprintln!("grantd status: {e}");
                1
            }
        },
        Ok((status, body)) => {
            eprintln!("grantd status: {}", client::error_text(status, &body));
            1
        }
        Err(code) => code,
    }
}

async fn reload(args: ReloadArgs) -> i32 {
    let settings = resolve_to_ask("reload", &args.daemon);
    match ask(&settings, "reload", hyper::Method::POST, "/v1/reload").await {
        Ok((200, body)) => {
            print!("{}", crate::status::render::reloaded(&body));
            0
        }
        Ok((422, body)) => {
            let problems = crate::status::render::problems(&body);
            report_config_errors(&problems);
            eprintln!("grantd reload: the daemon keeps the configuration in force");
            EXIT_CONFIG
        }
        Ok((status, body)) => {
            eprintln!("grantd reload: {}", client::error_text(status, &body));
            1
        }
        Err(code) => code,
    }
}

async fn ready(args: ReadyArgs) -> i32 {
    let settings = match resolve(&args.daemon) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let wait = std::time::Duration::from_secs(args.wait);
    match client::wait_ready(|| client::daemon(&settings), wait).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("grantd ready: {}", Report(&e));
            EXIT_UNAVAILABLE
        }
    }
}

/// Loads credentials through aws-config's default chain, exactly as an
/// application using the AWS SDK for Rust would, and prints the key id and
/// expiration (never the secret) as one JSON line.
async fn sdk_probe() -> i32 {
    use aws_credential_types::provider::ProvideCredentials;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let Some(provider) = config.credentials_provider() else {
        eprintln!("sdk-probe: no credentials provider");
        return 1;
    };
    match provider.provide_credentials().await {
        Ok(c) => {
            let expiration = c.expiry().map(crate::credentials::format_timestamp);
            println!(
                "{}",
                serde_json::json!({"access_key_id": c.access_key_id(), "expiration": expiration})
            );
            0
        }
        Err(e) => {
            eprintln!("sdk-probe: {}", aws_sdk_sts::error::DisplayErrorContext(&e));
            1
        }
    }
}
