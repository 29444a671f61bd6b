//! What an adapter may import: the interfaces of the contract it exports and the WASI
//! interfaces the host links with an empty context. Everything else (sockets, WASI HTTP, an
//! interface of another contract version or of another package) is refused when the
//! component is loaded, before it runs.

/// An import the component's contract does not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the component imports {import}, which contract {contract} does not grant: an adapter reaches the network only through paygate's `http` import, and has no sockets, HTTP client or other host interfaces of its own")]
pub struct ImportNotGranted {
    pub import: String,
    pub contract: String,
}

/// The WASI interfaces an adapter may import. paygate links them with an empty context (no
/// preopened directory, environment, argument or stdin): Rust's and Python's standard
/// libraries import them whether or not the adapter uses them, and they reach nothing.
/// `wasi:sockets` is among them for the same reason: CPython built by componentize-py links
/// wasi-libc's socket functions, so every Python adapter imports it, used or not; the host
/// links it with TCP, UDP and name lookup denied, so a socket opens nowhere
/// (`tests/e2e/runtime_limits.rs` probes it from inside). WASI HTTP is not among them: an
/// adapter's only way out is the host's `http` import, with its allowlist.
const GRANTED_WASI_PACKAGES: &[&str] = &[
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// The interfaces of contract `contract` (e.g. `2.0.0`) the host provides.
const GRANTED_CONTRACT_INTERFACES: &[&str] = &["types", "http", "keys", "log"];

/// Checks every import of a component against what its contract grants: the contract's own
/// interfaces (of the version it exports) and the WASI interfaces of
/// [`GRANTED_WASI_PACKAGES`]. `imports` are the component's import names as the component
/// model spells them (`paygate:provider/http@2.0.0`, `wasi:io/streams@0.2.3`).
pub fn check_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    contract: &str,
) -> Result<(), ImportNotGranted> {
    for import in imports {
        let granted = GRANTED_WASI_PACKAGES.iter().any(|p| import.starts_with(p))
            || GRANTED_CONTRACT_INTERFACES
                .iter()
                .any(|i| import == format!("paygate:provider/{i}@{contract}"));
        if !granted {
            return Err(ImportNotGranted {
                import: import.to_owned(),
                contract: contract.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_own_interfaces_and_inert_wasi_are_granted() {
        let imports = [
            "paygate:provider/types@2.0.0",
            "paygate:provider/http@2.0.0",
            "paygate:provider/keys@2.0.0",
            "paygate:provider/log@2.0.0",
            "wasi:io/streams@0.2.3",
            "wasi:clocks/monotonic-clock@0.2.3",
            "wasi:random/random@0.2.3",
            "wasi:cli/environment@0.2.3",
            "wasi:filesystem/preopens@0.2.3",
            "wasi:sockets/tcp@0.2.3",
            "wasi:sockets/ip-name-lookup@0.2.3",
        ];
        assert_eq!(check_imports(imports, "2.0.0"), Ok(()));
    }

    #[test]
    fn wasi_http_and_unknown_interfaces_are_not_granted() {
        for import in [
            "wasi:http/outgoing-handler@0.2.3",
            "acme:backdoor/shell@1.0.0",
            "paygate:provider/admin@2.0.0",
        ] {
            assert!(
                matches!(
                    check_imports([import], "2.0.0"),
                    Err(ImportNotGranted { .. })
                ),
                "{import}"
            );
        }
    }

    #[test]
    fn an_adapter_may_not_import_another_contract_versions_interfaces() {
        assert!(check_imports(["paygate:provider/http@1.0.0"], "2.0.0").is_err());
        assert_eq!(
            check_imports(["paygate:provider/http@1.0.0"], "1.0.0"),
            Ok(())
        );
    }
}
