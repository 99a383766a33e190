//! Writes the scenario captures and their expected timelines into `fixtures/`.
//!
//! `cargo run --example make_fixtures` (deterministic: the same bytes every run).

#[path = "../tests/fixture_writer/mod.rs"]
mod fixture_writer;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&dir)?;
    for s in fixture_writer::all() {
        std::fs::write(dir.join(s.file_name()), s.capture_bytes())?;
        std::fs::write(
            dir.join(format!("{}.events.json", s.name)),
            s.expected_json(),
        )?;
        println!(
            "{:28} {:5} packets, {} expected events",
            s.file_name(),
            s.packets(),
            s.expected.len()
        );
    }
    Ok(())
}
