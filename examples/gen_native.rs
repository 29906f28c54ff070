//! Print the generated native derivative programs of the built-in tasks:
//! `cargo run --release --example gen_native > src/model/symbolic/native.rs`.
fn main() {
    print!("{}", diffop::model::symbolic::builtin_native_source());
}
