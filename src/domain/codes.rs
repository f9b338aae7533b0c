//! Enums whose variants are codes on the wire: declared once with
//! [`code_enum!`], which gives each its snake_case wire name in every format
//! (serde, the JSON Schemas, the OpenAPI document), `ALL` (every variant, in
//! declaration order) and `code()`.

/// Declares a code enum: `code_enum! { /// doc  pub enum Name: ExtraDerive { A, B, } }`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident $(: $($extra:path),+)? {
            $($(#[$vmeta:meta])* $variant:ident,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            schemars::JsonSchema, utoipa::ToSchema, strum::VariantArray, strum::IntoStaticStr
            $($(, $extra)+)?
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            /// The code on the wire and in the store.
            pub fn code(self) -> &'static str {
                self.into()
            }
        }
    };
}
