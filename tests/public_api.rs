//! The public API, default features, is the committed list in
//! `tests/public-api.txt`: a change to the surface is always deliberate.
//!
//! The list comes from rustdoc's JSON output (`RUSTC_BOOTSTRAP=1 cargo
//! rustdoc --lib -- -Z unstable-options --output-format json`, which the
//! stable toolchain accepts that way), built in its own target directory
//! (`target/public-api`: the outer `cargo test` holds the lock on the usual
//! one). Each line is an item's path and kind: modules, types, functions,
//! constants, fields, variants, inherent methods and trait implementations.
//!
//! After a deliberate change, regenerate the list and commit it:
//!
//! ```text
//! UPDATE_PUBLIC_API=1 cargo test --test public_api
//! ```

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_public_api_is_the_committed_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target").join("public-api");
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["rustdoc", "--quiet", "--lib", "-p", "mapmean", "--"])
        .args(["-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target)
        // Whatever features the outer build had, list the default surface.
        .env_remove("RUSTDOCFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo rustdoc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = std::fs::read_to_string(target.join("doc").join("mapmean.json"))
        .expect("rustdoc wrote mapmean.json");
    let doc: Value = serde_json::from_str(&json).expect("rustdoc JSON parses");
    let mut lines = BTreeSet::new();
    let crate_root = doc["root"].to_string();
    Walker { doc: &doc }.module(&crate_root, "mapmean", &mut lines);
    let actual: String = lines
        .into_iter()
        .map(|(path, kind)| format!("{kind} {path}\n"))
        .collect();

    let committed = root.join("tests").join("public-api.txt");
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&committed, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&committed).unwrap_or_default();
    if actual != expected {
        let old: BTreeSet<&str> = expected.lines().collect();
        let new: BTreeSet<&str> = actual.lines().collect();
        let added: Vec<_> = new.difference(&old).collect();
        let removed: Vec<_> = old.difference(&new).collect();
        panic!(
            "the public API changed.\nadded: {added:#?}\nremoved: {removed:#?}\n\
             If this is deliberate: UPDATE_PUBLIC_API=1 cargo test --test public_api"
        );
    }
}

/// Walks rustdoc's JSON from the crate root, collecting `(path, kind)`.
struct Walker<'a> {
    doc: &'a Value,
}

impl Walker<'_> {
    fn item(&self, id: &str) -> Option<&Value> {
        self.doc["index"].get(id)
    }

    /// The item's kind (`module`, `struct`, `function`, …) and its data.
    fn inner<'v>(&self, item: &'v Value) -> Option<(&'v str, &'v Value)> {
        let (kind, data) = item["inner"].as_object()?.iter().next()?;
        Some((kind.as_str(), data))
    }

    fn module(&self, id: &str, path: &str, out: &mut BTreeSet<(String, String)>) {
        let Some(module) = self.item(id) else { return };
        let Some(("module", data)) = self.inner(module) else {
            return;
        };
        for child in data["items"].as_array().into_iter().flatten() {
            let Some(item) = self.item(&child.to_string()) else {
                continue;
            };
            let Some((kind, data)) = self.inner(item) else {
                continue;
            };
            if kind == "use" {
                // A re-export: list the target under the name it has here.
                let name = data["name"].as_str().unwrap_or("?");
                let target = data["id"].to_string();
                match self.item(&target) {
                    Some(target_item) => {
                        self.named(&target, target_item, &format!("{path}::{name}"), out)
                    }
                    None => {
                        let source = data["source"].as_str().unwrap_or("?");
                        out.insert((format!("{path}::{name}"), format!("use({source})")));
                    }
                }
            } else {
                let name = item["name"].as_str().unwrap_or("?");
                self.named(&child.to_string(), item, &format!("{path}::{name}"), out);
            }
        }
    }

    /// An item reached at `path`, and what it contains.
    fn named(&self, id: &str, item: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
        let Some((kind, data)) = self.inner(item) else {
            return;
        };
        out.insert((path.to_string(), kind.to_string()));
        match kind {
            "module" => self.module(id, path, out),
            "struct" => {
                let fields = &data["kind"]["plain"]["fields"];
                for field in fields.as_array().into_iter().flatten() {
                    self.member(&field.to_string(), path, out);
                }
                self.impls(data, path, out);
            }
            "enum" => {
                for variant in data["variants"].as_array().into_iter().flatten() {
                    self.member(&variant.to_string(), path, out);
                }
                self.impls(data, path, out);
            }
            "trait" => {
                for member in data["items"].as_array().into_iter().flatten() {
                    self.member(&member.to_string(), path, out);
                }
            }
            _ => {}
        }
    }

    /// A field, variant or associated item of the item at `path`.
    fn member(&self, id: &str, path: &str, out: &mut BTreeSet<(String, String)>) {
        let Some(item) = self.item(id) else { return };
        let Some((kind, _)) = self.inner(item) else {
            return;
        };
        let name = item["name"].as_str().unwrap_or("?");
        out.insert((format!("{path}::{name}"), kind.to_string()));
    }

    /// Inherent items and written (not auto or blanket) trait implementations.
    fn impls(&self, data: &Value, path: &str, out: &mut BTreeSet<(String, String)>) {
        for id in data["impls"].as_array().into_iter().flatten() {
            let Some(item) = self.item(&id.to_string()) else {
                continue;
            };
            let Some(("impl", imp)) = self.inner(item) else {
                continue;
            };
            if imp["is_synthetic"].as_bool() == Some(true) || !imp["blanket_impl"].is_null() {
                continue;
            }
            if imp["trait"].is_null() {
                for member in imp["items"].as_array().into_iter().flatten() {
                    let public = self
                        .item(&member.to_string())
                        .is_some_and(|m| m["visibility"] == "public");
                    if public {
                        self.member(&member.to_string(), path, out);
                    }
                }
            } else {
                let trait_id = imp["trait"]["id"].to_string();
                let name = match self.doc["paths"][&trait_id]["path"].as_array() {
                    Some(parts) => parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("::"),
                    None => imp["trait"]["path"].as_str().unwrap_or("?").to_string(),
                };
                // The compiler's own marker for derived `PartialEq` is no
                // part of the surface anyone writes against.
                if name != "core::marker::StructuralPartialEq" {
                    out.insert((path.to_string(), format!("impl {name} for")));
                }
            }
        }
    }
}
