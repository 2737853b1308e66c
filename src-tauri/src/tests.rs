use super::*;
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;

#[test]
fn app_info_answers_over_ipc() {
    let app = configure(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("mock app builds");
    let webview = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("mock window");
    let res = get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: "app_info".into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: tauri::ipc::InvokeBody::default(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .expect("app_info succeeds");
    let v: serde_json::Value = res.deserialize().expect("json");
    assert_eq!(v["name"], "tpm-passkey");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}
