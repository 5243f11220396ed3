//! Generates the LALRPOP parser from `grammar/vexil.lalrpop` into `OUT_DIR/vexil.rs`.

fn main() {
    println!("cargo:rerun-if-changed=grammar/vexil.lalrpop");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(out_dir)
        .process()
        .expect("grammar/vexil.lalrpop should generate a parser");
}
