fn main() {
    eprintln!("bsar: not built yet");
    std::process::exit(2);
}
