// A generic service: the struct's and the impl block's generics and where clauses carry
// over to the generated impls.

use std::fmt::Debug;

use oslo::{Context, ServiceBase};

#[oslo::service(name = "holder")]
struct Holder<'a, T: Debug, const N: usize = 1>
where
    T: Clone,
{
    items: &'a [T; N],
}

#[oslo::service]
impl<T, const N: usize> Holder<'static, T, N>
where
    T: Debug + Clone + Send + Sync + 'static,
{
    async fn start(&self, cx: &Context) -> oslo::Result<()> {
        let _ = (cx, self.items);
        Ok(())
    }
}

fn assert_service<S: ServiceBase>(service: &S) -> &str {
    service.name()
}

static ITEMS: [u8; 2] = [1, 2];

fn main() {
    let holder = Holder { items: &ITEMS };
    assert_eq!(assert_service(&holder), "holder");
    assert_eq!(
        <Holder<'_, String> as oslo::__private::ServiceStruct>::NAME,
        "holder"
    );
}
