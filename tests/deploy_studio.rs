//! deploy/studio-lifecycle.sh, run for real against the emulator: one daemon
//! per space however often (and however concurrently) the script runs, in a
//! run directory no other user controls, and shells and kernels set up to
//! use it.

mod common;
mod deploy_support;
mod studio_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use deploy_support::*;
use studio_support::*;

#[test]
fn credentials_mode_starts_one_daemon_and_gives_shells_and_kernels_the_default_grant() {
    let emu = emulator(None);
    let space = Space::new("studio-home");
    let home = space.home();
    let first = space
        .lcc(&emu)
        .env("GRANTD_MODE", "credentials")
        .output()
        .unwrap();
    assert_success(&first);
    let pid_file = space.run_dir().join("grantd.pid");
    assert_eq!(space.run_dir(), home.join("run/grantd"));
    assert_eq!(mode(&space.run_dir()), 0o700);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let second = space
        .lcc(&emu)
        .env("GRANTD_MODE", "credentials")
        .output()
        .unwrap();
    assert_success(&second);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        pid,
        "a second run reuses the running daemon"
    );
    assert_eq!(daemons_with_home(home).len(), 1);
    let bashrc = std::fs::read_to_string(home.join(".bashrc")).unwrap();
    assert_eq!(
        bashrc.matches("client.env").count(),
        2,
        "one line, added once: {bashrc}"
    );

    // A new shell, with the space's RELATIVE_URI still set, uses grantd.
    let mut shell = Command::new("bash");
    client_env(&mut shell);
    let shell_out = shell
        .arg("-c")
        .arg(format!(
            ". '{}/.config/grantd/client.env' && exec '{BIN}' sdk-probe",
            home.display()
        ))
        .env(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/space-role",
        )
        .output()
        .unwrap();
    assert_success(&shell_out);
    let got: serde_json::Value = serde_json::from_slice(&shell_out.stdout).unwrap();
    assert!(got["access_key_id"].as_str().unwrap().starts_with("ASIA"));

    // A notebook kernel: the IPython startup file sets the same environment.
    let kernel_out = space.kernel(
        "print(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI']); \
         print('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' in os.environ); \
         print(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN'] == open(os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']).read())",
    );
    let lines: Vec<&str> = kernel_out.lines().collect();
    assert!(
        lines[0].starts_with("http://127.0.0.1:") && lines[0].ends_with("/v1/credentials"),
        "{kernel_out}"
    );
    assert_eq!(&lines[1..3], ["False", "True"]);
    // A process the kernel starts (a local Spark session's JVM) inherits it.
    let probe: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    assert!(
        probe["access_key_id"].as_str().unwrap().starts_with("ASIA"),
        "{kernel_out}"
    );
}

#[test]
fn s3_mode_is_the_default_and_keeps_the_execution_role_with_s3_through_grantd() {
    let emu = emulator(None);
    let space = Space::new("studio-s3");
    let home = space.home();
    // A Spark configuration the image shipped, which ours builds on.
    let image_conf = home.join("image-spark-conf");
    std::fs::create_dir(&image_conf).unwrap();
    std::fs::write(
        image_conf.join("spark-defaults.conf"),
        "spark.executor.memory 2g\nspark.hadoop.fs.s3a.endpoint https://s3.example\n",
    )
    .unwrap();
    for _ in 0..2 {
        let run = space
            .lcc(&emu)
            .env("SPARK_CONF_DIR", &image_conf)
            .output()
            .unwrap();
        assert_success(&run);
        assert!(String::from_utf8_lossy(&run.stdout).contains("(s3 mode)"));
    }
    assert_eq!(daemons_with_home(home).len(), 1);
    let s3 = format!("http://{}", space.s3_addr());
    assert!(
        space
            .client_env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .ends_with("/v1/base-credentials")
    );
    assert_eq!(space.client_env("AWS_ENDPOINT_URL_S3"), s3);
    assert_eq!(space.client_env("RCLONE_S3_ENDPOINT"), s3);
    let text = std::fs::read_to_string(home.join(".config/grantd/client.env")).unwrap();
    assert!(!text.contains("export AWS_ENDPOINT_URL="), "{text}");
    assert!(!text.contains(&space.token()), "the token is in client.env");

    // Spark: the image's settings, less its s3a endpoint, then ours; written
    // whole on each run, so the second run added nothing.
    let spark_dir = PathBuf::from(space.client_env("SPARK_CONF_DIR"));
    let conf = std::fs::read_to_string(spark_dir.join("spark-defaults.conf")).unwrap();
    assert_eq!(
        conf,
        format!(
            "spark.executor.memory 2g\n\
             spark.hadoop.fs.s3a.endpoint {s3}\n\
             spark.hadoop.fs.s3a.path.style.access true\n\
             spark.hadoop.fs.s3a.connection.ssl.enabled false\n\
             spark.hadoop.fs.s3a.aws.credentials.provider org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider\n"
        )
    );

    // A kernel: the execution role (the daemon's own identity, RoleA's
    // long-term keys here) through grantd, S3 through its endpoint.
    let out = space.kernel(
        "print(os.environ['AWS_ENDPOINT_URL_S3']); print(os.environ['SPARK_CONF_DIR']); \
         print('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' in os.environ)",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], s3);
    assert_eq!(lines[1], spark_dir.display().to_string());
    assert_eq!(lines[2], "False");
    let probe: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(probe["access_key_id"], ROLE_A_KEY, "{out}");

    // The S3 endpoint answers with S3's own XML: a request signed by nobody is refused.
    let reply = get(
        space.s3_addr(),
        "/blog-access-grants-111122223333-us-east-1/UserA/x",
        None,
    );
    assert_eq!(reply.status, 403);
    assert!(
        reply.body.contains("<Code>AccessDenied</Code>"),
        "{}",
        reply.body
    );
}

#[test]
fn an_unknown_mode_stops_the_script_before_anything_starts() {
    let emu = emulator(None);
    let space = Space::new("studio-badmode");
    let out = space.lcc(&emu).env("GRANTD_MODE", "s4").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GRANTD_MODE must be s3 or credentials"));
    assert!(daemons_with_home(space.home()).is_empty());
}

#[test]
fn the_studio_daemon_does_not_serve_imds() {
    let emu = emulator(None);
    let space = Space::new("studio-noimds");
    assert_success(&space.lcc(&emu).output().unwrap());
    let reply = request(
        space.daemon_addr(),
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    assert_eq!(
        reply.status, 404,
        "IMDS is opt-in, yet PUT /latest/api/token answered"
    );
}

#[test]
fn the_daemon_log_is_plain_text() {
    // grantd.log is read by people, and its tail goes to Studio's lifecycle
    // log when the script fails: no terminal, so no colour codes.
    let emu = emulator(None);
    let space = Space::new("studio-log");
    assert_success(&space.lcc(&emu).output().unwrap());
    let log = space.log();
    assert!(log.contains("grantd serving"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in grantd.log: {log:?}"
    );
}

#[test]
fn two_runs_at_once_start_one_daemon_and_keep_its_address_file() {
    let emu = emulator(None);
    let space = Space::new("studio-race");
    // Port 0: a second daemon would bind too, and be counted.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            space
                .lcc(&emu)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        assert_success(&run.wait_with_output().unwrap());
    }
    let daemons = daemons_with_home(space.home());
    assert_eq!(daemons.len(), 1, "daemons: {daemons:?}");
    assert_eq!(space.supervisors().len(), 1, "one supervisor");
    let pid = std::fs::read_to_string(space.run_dir().join("grantd.pid")).unwrap();
    assert_eq!(pid.trim(), daemons[0].to_string());
    let addr = std::fs::read_to_string(space.run_dir().join("addr")).unwrap();
    assert_eq!(
        addr.trim(),
        space.daemon_addr().to_string(),
        "address file intact"
    );
    assert_eq!(get(space.daemon_addr(), "/readyz", None).status, 200);
}

#[test]
fn a_run_directory_another_user_created_is_not_used_and_does_not_abort_the_app() {
    let emu = emulator(None);
    let space = Space::new("studio-foreign");
    let home = space.home();
    for dir in [home.join("run"), home.join("tmp"), home.to_path_buf()] {
        chown(&dir, NOBODY);
    }
    // Root (another user, to the space user `nobody`) made the run
    // directory, at the name this script and its predecessor use.
    for name in ["grantd", &format!("grantd-{NOBODY}")] {
        std::fs::create_dir(home.join("run").join(name)).unwrap();
    }
    let out = as_nobody(&space.lcc(&emu)).output().unwrap();
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a private directory"),
        "{}",
        transcript(&out)
    );
    let token_file = PathBuf::from(space.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
    let run_dir = token_file.parent().unwrap();
    assert!(
        run_dir.starts_with(home.join("tmp")),
        "{}",
        run_dir.display()
    );
    assert_eq!((owner(run_dir), mode(run_dir)), (NOBODY, 0o700));
    assert_eq!((owner(&token_file), mode(&token_file)), (NOBODY, 0o600));

    // The next run finds the same directory, hence the same daemon.
    let again = as_nobody(&space.lcc(&emu)).output().unwrap();
    assert_success(&again);
    assert_eq!(
        space.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        token_file.display().to_string()
    );
    assert_eq!(daemons_with_home(home).len(), 1);
}

#[test]
fn the_script_fits_a_lifecycle_configuration_once_base64_encoded() {
    // CreateStudioLifecycleConfig takes the script base64-encoded, at most
    // 16,384 characters of it: 12,288 bytes of script.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/studio-lifecycle.sh");
    let bytes = std::fs::metadata(path).unwrap().len();
    let encoded = bytes.div_ceil(3) * 4;
    assert!(encoded <= 16_384, "{bytes} bytes, {encoded} in base64");
}
