//! Generates the client from the committed OpenAPI document, unchanged (`docs/openapi.yaml`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let document = manifest.join("../../docs/openapi.yaml");
    println!("cargo::rerun-if-changed={}", document.display());
    let text = std::fs::read_to_string(&document).map_err(|e| format!("reading {}: {e}", document.display()))?;
    let spec: openapiv3::OpenAPI = serde_norway::from_str(&text)
        .map_err(|e| format!("{} is not an OpenAPI 3.0 document: {e}", document.display()))?;
    let tokens = progenitor::Generator::default()
        .generate_tokens(&spec)
        .map_err(|e| format!("progenitor cannot generate a client from {}: {e}", document.display()))?;
    let code = prettyplease::unparse(&syn::parse2(tokens)?);
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("client.rs"), code)?;
    Ok(())
}
