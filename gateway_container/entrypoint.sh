#!/usr/bin/env bash
# Start IB Gateway through IBC with the credentials ECS injected, wait for its API port, then hand
# the process over to the Python order bridge (`smart0dte order-bridge`). tini (PID 1) forwards ECS's
# SIGTERM to it, and the bridge stops cleanly.
#
# Required environment (from Secrets Manager through the task definition):
#   TWS_USERID, TWS_PASSWORD   the IB login
#   TRADING_MODE               live or paper (IB Gateway's login: IBC's mode); the bridge trades
#                              SMART0DTE_MODE live on a live login, ibkr_paper on a paper login
# Optional: SMART0DTE_IB_PORT (default 4001 live / 4002 paper), API_WAIT_S (default 300),
#   TWOFA_TIMEOUT_ACTION (exit or restart, default exit).
set -euo pipefail

: "${TWS_USERID:?TWS_USERID must be set (ECS secret)}"
: "${TWS_PASSWORD:?TWS_PASSWORD must be set (ECS secret)}"
: "${TRADING_MODE:?TRADING_MODE must be live or paper}"
case "${TRADING_MODE}" in
  live) default_port=4001; bridge_mode=live ;;
  paper) default_port=4002; bridge_mode=ibkr_paper ;;
  *) echo "TRADING_MODE=${TRADING_MODE} must be live or paper" >&2; exit 2 ;;
esac
export SMART0DTE_MODE="${SMART0DTE_MODE:-${bridge_mode}}"
if [[ "${SMART0DTE_MODE}" != "${bridge_mode}" ]]; then
  echo "SMART0DTE_MODE=${SMART0DTE_MODE} disagrees with TRADING_MODE=${TRADING_MODE} (wants ${bridge_mode})" >&2
  exit 2
fi
export SMART0DTE_IB_PORT="${SMART0DTE_IB_PORT:-${default_port}}"

# The start schedule fires every weekday: on an exchange holiday, stop before logging in to IB
# (a login may ask for two-factor authentication nobody is waiting to give).
today="$(TZ=America/New_York date +%F)"
if smart0dte calendar --date "${today}" --json | grep -q '"is_session": false'; then
  echo "${today} has no NYSE session: the gateway does not start"
  exit 0
fi
api_wait_s="${API_WAIT_S:-300}"
build="$(cat "${IBGATEWAY_ROOT}/BUILD")"

# IBC's settings, credentials included, in a file only this user can read (never in `ps`).
ibc_dir="${HOME}/ibc"
mkdir -p "${ibc_dir}" "${HOME}/Jts"
umask 077
cat > "${ibc_dir}/config.ini" <<INI
IbLoginId=${TWS_USERID}
IbPassword=${TWS_PASSWORD}
TradingMode=${TRADING_MODE}
OverrideTwsApiPort=${SMART0DTE_IB_PORT}
ReadOnlyApi=no
AcceptIncomingConnectionAction=accept
AcceptNonBrokerageAccountWarning=yes
ExistingSessionDetectedAction=primary
ReloginAfterSecondFactorAuthenticationTimeout=yes
INI
unset TWS_PASSWORD

Xvfb "${DISPLAY}" -screen 0 1024x768x16 -nolisten tcp &

"${IBC_PATH}/scripts/ibcstart.sh" "${build}" --gateway \
  --tws-path="${IBGATEWAY_ROOT}" \
  --tws-settings-path="${HOME}/Jts" \
  --ibc-path="${IBC_PATH}" \
  --ibc-ini="${ibc_dir}/config.ini" \
  --mode="${TRADING_MODE}" \
  --on2fatimeout="${TWOFA_TIMEOUT_ACTION:-exit}" &

echo "waiting up to ${api_wait_s} s for the IB API on 127.0.0.1:${SMART0DTE_IB_PORT}" >&2
deadline=$((SECONDS + api_wait_s))
until (exec 3<>"/dev/tcp/127.0.0.1/${SMART0DTE_IB_PORT}") 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "IB API port ${SMART0DTE_IB_PORT} did not open within ${api_wait_s} s (login or 2FA pending?)" >&2
    exit 1
  fi
  sleep 2
done

exec smart0dte order-bridge --ib-port "${SMART0DTE_IB_PORT}" --mode "${SMART0DTE_MODE}" "$@"
