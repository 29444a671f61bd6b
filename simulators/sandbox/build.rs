//! `sqlx::migrate!` embeds `migrations/`, which cargo does not watch by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
