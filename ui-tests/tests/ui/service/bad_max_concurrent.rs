#[oslo::service(periodic_max_concurrent = 0)]
struct None_;

#[oslo::service(periodic_max_concurrent = "four")]
struct Words;

fn main() {}
