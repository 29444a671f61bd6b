//! The API document tells the whole truth: schemathesis (from PyPI; `.ci/run` installs it)
//! generates requests from `/openapi.json` for every operation, with a merchant key and the
//! admin token, and checks that paygate answers only statuses and bodies the document
//! gives, never a server error, accepts what the schema allows and refuses what it does
//! not. Its configuration (`tests/schemathesis/schemathesis.toml`) says which operations'
//! acceptance depends on the world at run time, and why.

use std::process::Stdio;

use paygate_e2e::{TestApp, ADMIN_TOKEN};

#[tokio::test]
async fn schemathesis_finds_no_answer_the_api_document_does_not_give() {
    let app = TestApp::spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis");
    let run = tokio::process::Command::new("schemathesis")
        .current_dir(&dir)
        .args([
            "run",
            &format!("{}/openapi.json", app.url),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--workers",
            "2",
            // A fixed seed: a failure here is reproduced by running the same command.
            "--seed",
            "1",
        ])
        .env("PAYGATE_TEST_API_KEY", &app.merchant.api_key)
        .env("PAYGATE_TEST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("schemathesis runs (`pip install schemathesis==4.32.5`; `.ci/run` installs it)");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found answers the document does not give:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Every operation was tested, none skipped for want of a way to send its body.
    let count = |label: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.trim().split('/').next()?.parse::<u32>().ok())
    };
    let selected = count("Selected:");
    assert!(selected.is_some_and(|n| n > 30), "{out}");
    assert_eq!(count("Tested:"), selected, "{out}");
}
