//! The grpc example's service, compiled from examples/proto/greeter.proto without
//! protoc: protox parses it into descriptors in Rust, tonic-prost-build writes the
//! messages and the server from them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "examples/proto/greeter.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["examples/proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
