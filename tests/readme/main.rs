//! The README runs as written: every shell block of the repository's README.md, from
//! `paygate serve` through the simulator walk-throughs, run in order by the harness of
//! `harness.rs` (its module doc is the annotation syntax), against the test builds of
//! paygate and the simulators. Then the harness's own rules, on small markdown fixtures.

mod harness;

use std::path::PathBuf;
use std::time::Duration;

use harness::{extract, run, variables_used, Annotation, Setup};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The binaries this package builds from the README's packages' own sources
/// (`tests/Cargo.toml`), so that nothing is compiled while the README runs.
fn readme_setup(name: &str) -> Setup {
    let paygate = PathBuf::from(env!("CARGO_BIN_EXE_readme-paygate"));
    Setup {
        name: name.to_owned(),
        repo: repository(),
        programs: vec![("paygate".into(), paygate.clone())],
        packages: vec![
            ("paygate".into(), paygate),
            (
                "wechat-simulator".into(),
                PathBuf::from(env!("CARGO_BIN_EXE_readme-wechat-simulator")),
            ),
            (
                "alipay-simulator".into(),
                PathBuf::from(env!("CARGO_BIN_EXE_readme-alipay-simulator")),
            ),
        ],
        installs: vec!["host".into()],
        default_listen: Some((8080, "PAYGATE_LISTEN".into())),
        // The compiled adapters the end-to-end tests share (tests/lib.rs): a cache.
        env: vec![(
            "PAYGATE_CACHE_DIR".into(),
            std::env::temp_dir()
                .join("paygate-test-cache")
                .display()
                .to_string(),
        )],
        block_timeout: Duration::from_secs(60),
        // A first start compiles the bundled adapters (a debug build of the host).
        ready_timeout: Duration::from_secs(120),
    }
}

#[test]
fn the_readme_runs_as_written() {
    let markdown =
        std::fs::read_to_string(repository().join("README.md")).expect("README.md is readable");
    match run(&markdown, &readme_setup("README.md")) {
        Ok(report) => {
            eprintln!(
                "README.md: {} blocks run, {} in the background, {} skipped, in {:.1} s",
                report.ran,
                report.background,
                report.skipped.len(),
                report.elapsed.as_secs_f64()
            );
            for (line, reason) in &report.skipped {
                eprintln!("  skipped the block at line {line}: {reason}");
            }
            assert!(
                report.ran > 10,
                "the README's walk-throughs ran: {report:?}"
            );
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// A setup for the fixtures: `cargo run --release -p echo -- ARGS` is `/bin/echo`.
fn fixture_setup() -> Setup {
    Setup {
        name: "fixture.md".into(),
        repo: repository(),
        programs: Vec::new(),
        packages: vec![("echo".into(), PathBuf::from("/bin/echo"))],
        installs: Vec::new(),
        default_listen: None,
        env: Vec::new(),
        block_timeout: Duration::from_secs(20),
        ready_timeout: Duration::from_secs(30),
    }
}

fn run_fixture(markdown: &str) -> Result<harness::Report, String> {
    run(markdown, &fixture_setup())
}

#[test]
fn annotations_belong_to_the_shell_block_right_below_them() {
    let blocks = extract(
        "# Title\n\n<!-- readme-test: expect-output hi -->\n\n\
         <!-- readme-test: retry-for 2s -->\n```sh\necho hi\n```\n\n```json\n{}\n```\n\n\
         ```sh\ntrue\n```\n",
    )
    .expect("extracts");
    assert_eq!(blocks.len(), 2, "json blocks are not run");
    assert_eq!(blocks[0].line, 6);
    assert_eq!(blocks[0].text, "echo hi\n");
    assert_eq!(
        blocks[0].annotations,
        vec![
            Annotation::ExpectOutput("hi".into()),
            Annotation::RetryFor(Duration::from_secs(2))
        ]
    );
    assert!(blocks[1].annotations.is_empty());
}

#[test]
fn an_annotation_with_text_between_it_and_its_block_is_refused() {
    let error =
        extract("<!-- readme-test: expect-output hi -->\nSome prose.\n```sh\necho hi\n```\n")
            .expect_err("misplaced");
    assert!(error.contains("line 1"), "{error}");
}

#[test]
fn an_annotation_above_a_block_that_is_not_run_is_refused() {
    let error = extract("<!-- readme-test: expect-output hi -->\n```json\n{}\n```\n")
        .expect_err("above json");
    assert!(error.contains("not run"), "{error}");
}

#[test]
fn an_unknown_annotation_or_a_skip_without_reason_is_refused() {
    let unknown = extract("<!-- readme-test: expect-status 200 -->\n```sh\ntrue\n```\n")
        .expect_err("unknown");
    assert!(
        unknown.contains("unknown readme-test annotation"),
        "{unknown}"
    );
    let bare = extract("<!-- readme-test: skip -->\n```sh\ntrue\n```\n").expect_err("no reason");
    assert!(bare.contains("needs a reason"), "{bare}");
}

#[test]
fn a_failing_command_fails_the_run_naming_its_readme_line_and_the_command() {
    let markdown = "# Fixture\n\n```sh\necho first\n```\n\nThen:\n\n```sh\necho second\nls /no/such/directory\necho never\n```\n";
    let failure = run_fixture(markdown).expect_err("ls fails");
    assert!(
        failure.contains("the sh block at line 9"),
        "names the block: {failure}"
    );
    assert!(
        failure.contains("line 11: `ls /no/such/directory` exited with status 2"),
        "names the command and its line: {failure}"
    );
    assert!(
        !failure.contains("never\n--- stderr"),
        "stops there: {failure}"
    );
}

#[test]
fn an_unset_variable_fails_the_block() {
    let failure = run_fixture("```sh\nexport KEY=pk_1\n```\n\n```sh\necho $API_KEY\n```\n")
        .expect_err("API_KEY is unset");
    assert!(
        failure.contains("line 6: API_KEY: unbound variable"),
        "{failure}"
    );
}

#[test]
fn variables_and_the_directory_carry_from_one_block_to_the_next() {
    let report = run_fixture(
        "```sh\nORDER=ord_1\nmkdir -p work && cd work\n```\n\n\
         <!-- readme-test: expect-output ord_1 in work -->\n\
         ```sh\necho \"$ORDER in $(basename \"$PWD\")\"\n```\n",
    )
    .expect("runs");
    assert_eq!(report.ran, 2);
}

#[test]
fn an_expected_json_value_that_differs_fails_the_block() {
    let markdown = "<!-- readme-test: expect-json .state == \"paid\" -->\n```sh\necho '{\"state\":\"paid\"}{\"state\":\"open\"}'\n```\n";
    let failure = run_fixture(markdown).expect_err("the second document is open");
    assert!(
        failure.contains("JSON document 2 has \"open\" there"),
        "{failure}"
    );
    run_fixture("<!-- readme-test: expect-json .action.type == \"qr_code\" -->\n```sh\necho '{\"action\":{\"type\":\"qr_code\"}}'\n```\n")
        .expect("nested path matches");
}

#[test]
fn an_error_answer_fails_the_block_unless_it_is_expected() {
    let answer = r#"echo '{"error":{"code":"unauthorized","message":"no such API key"}}'"#;
    let failure = run_fixture(&format!("```sh\n{answer}\n```\n")).expect_err("an error");
    assert!(failure.contains("unauthorized"), "{failure}");
    run_fixture(&format!(
        "<!-- readme-test: expect-json .error.code == \"unauthorized\" -->\n```sh\n{answer}\n```\n"
    ))
    .expect("expected");
}

#[test]
fn replace_takes_the_last_match_of_what_earlier_blocks_printed() {
    let markdown = "```sh\necho 'API key: pk_old'\necho 'API key: pk_new'\n```\n\n\
         <!-- readme-test: replace pk_... with /API key:\\s+(\\S+)/ -->\n\
         <!-- readme-test: expect-output KEY=pk_new -->\n\
         ```sh\nexport KEY=pk_...\necho KEY=$KEY\n```\n";
    run_fixture(markdown).expect("substitutes");
    let failure = run_fixture(
        "<!-- readme-test: replace pk_... with /API key: (\\S+)/ -->\n```sh\necho pk_...\n```\n",
    )
    .expect_err("nothing printed yet");
    assert!(
        failure.contains("nothing the blocks before printed"),
        "{failure}"
    );
}

#[test]
fn retry_for_runs_the_block_again_until_its_expectation_holds() {
    let markdown = "```sh\nrm -f count\n```\n\n\
         <!-- readme-test: retry-for 5s -->\n<!-- readme-test: expect-output 3 -->\n\
         ```sh\necho x >> count; wc -l < count\n```\n";
    run_fixture(markdown).expect("the third run prints 3");
    let failure = run_fixture(
        "<!-- readme-test: retry-for 300ms -->\n<!-- readme-test: expect-output never -->\n```sh\necho no\n```\n",
    )
    .expect_err("never holds");
    assert!(failure.contains("still after 300 ms"), "{failure}");
}

#[test]
fn cargo_run_uses_the_test_build_and_refuses_a_debug_build() {
    run_fixture("<!-- readme-test: expect-output hello -->\n```sh\ncargo run --release -p echo -- hello\n```\n")
        .expect("the echo package is /bin/echo");
    let debug = run_fixture("```sh\ncargo run -p echo -- hello\n```\n").expect_err("no --release");
    assert!(debug.contains("without --release"), "{debug}");
    let other = run_fixture("```sh\ncargo build --release\n```\n").expect_err("not a run");
    assert!(other.contains("annotate the block with skip"), "{other}");
}

#[test]
fn a_skipped_block_is_not_run_but_its_variables_must_be_set() {
    let report = run_fixture(
        "```sh\nexport KEY=pk_1\n```\n\n<!-- readme-test: skip (needs a merchant account) -->\n\
         ```sh\ncurl -H \"Authorization: Bearer $KEY\" '$NOT_EXPANDED' # $IN_A_COMMENT\nexit 1\n```\n",
    )
    .expect("not run");
    assert_eq!(
        report.skipped,
        vec![(6, "needs a merchant account".to_owned())]
    );
    let failure = run_fixture(
        "```sh\nexport KEY=pk_1\n```\n\n<!-- readme-test: skip (needs a merchant account) -->\n\
         ```sh\ncurl -H \"Authorization: Bearer $API_KEY\"\n```\n",
    )
    .expect_err("API_KEY is a typo");
    assert!(failure.contains("API_KEY"), "{failure}");
}

#[test]
fn the_variables_a_block_uses_are_found_outside_single_quotes_and_comments() {
    let used = variables_used(
        "jq --rawfile key k.pem '{a: $key}' | curl -d \"$ORDER\" ${BASE}/x $(date) # $NOTE\n",
    );
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        vec!["BASE".to_owned(), "ORDER".to_owned()]
    );
}

#[test]
fn a_background_block_serves_on_a_port_of_its_own_and_stops_at_the_end() {
    let mut setup = fixture_setup();
    setup.packages.push((
        "wechat-simulator".into(),
        PathBuf::from(env!("CARGO_BIN_EXE_readme-wechat-simulator")),
    ));
    let markdown = "<!-- readme-test: background http://127.0.0.1:9090/sim/knobs -->\n\
         ```sh\ncargo run --release -p wechat-simulator -- --listen 127.0.0.1:9090\n```\n\n\
         <!-- readme-test: expect-output \"drop_notifications\":false -->\n\
         ```sh\ncurl -s 127.0.0.1:9090/sim/knobs\n\
         p=90; if grep -q \":${p}90$\" <<< \"127.0.0.1:9090\"; then exit 1; fi\n```\n";
    let report = run(markdown, &setup).expect("the simulator answers");
    assert_eq!((report.background, report.ran), (1, 1));
}
