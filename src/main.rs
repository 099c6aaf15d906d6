fn main() {
    std::process::exit(grantd::cli::main());
}
