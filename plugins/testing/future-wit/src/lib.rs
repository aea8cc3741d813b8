//! A guest built against `hub:plugin@2.0.0`, a major version this hub does
//! not speak. The kernel must refuse it at load time with a message naming
//! both versions, before running any of its code.

wit_bindgen::generate!({
    inline: "
        package hub:plugin@2.0.0;
        interface handler {
            record order { id: string, payload: string }
            submit: func(order: order) -> result<string, string>;
        }
        world plugin { export handler; }
    ",
    world: "plugin",
});

struct Future;

impl exports::hub::plugin::handler::Guest for Future {
    fn submit(order: exports::hub::plugin::handler::Order) -> Result<String, String> {
        Ok(order.id)
    }
}

export!(Future);
