use candle_core::{Device, Tensor};
fn time(f: impl Fn() -> Tensor) -> f64 {
    for _ in 0..2 {
        f();
    }
    let t = std::time::Instant::now();
    for _ in 0..5 {
        f();
    }
    t.elapsed().as_secs_f64() / 5.0
}
fn main() {
    unsafe { caugym_model::threads::init_cpu_runtime() };
    let d = Device::Cpu;
    let dz = Tensor::randn(0f32, 1., (1020, 32000), &d).unwrap();
    let h = Tensor::randn(0f32, 1., (1020, 768), &d).unwrap();
    let head = Tensor::randn(0f32, 1., (32000, 768), &d).unwrap();
    let a = time(|| dz.t().unwrap().matmul(&h).unwrap());
    let b = time(|| {
        h.t()
            .unwrap()
            .matmul(&dz)
            .unwrap()
            .t()
            .unwrap()
            .contiguous()
            .unwrap()
    });
    let c = time(|| dz.matmul(&head).unwrap());
    let e = time(|| h.matmul(&head.t().unwrap()).unwrap());
    let f = 2.0 * 1020.0 * 32000.0 * 768.0 / 1e9;
    println!(
        "dw = dz^T h: {:.3}s {:.0} GF/s; (h^T dz)^T: {:.3}s {:.0}; dh = dz head: {:.3}s {:.0}; z = h head^T {:.3}s {:.0}",
        a,
        f / a,
        b,
        f / b,
        c,
        f / c,
        e,
        f / e
    );
}
