// Compiles the WebSocket transport once (SWITCHBOARD_SEPARATE_COMPILATION), instead of
// in every file that includes <switchboard/websocket_server.hpp>.
#include <switchboard/websocket_server.hpp>
#include <switchboard/impl/websocket_server.ipp>
