//! `waveguide-engine`: the Waveguide node. For now it prints its version.

fn main() {
    println!("waveguide-engine {}", env!("CARGO_PKG_VERSION"));
}
