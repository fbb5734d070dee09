/**
 * The Android userland commands of the virtual phone (`/system/bin/NAME`), looked up by
 * VirtualPhone.lookupCommand before the core utilities.
 */
import type { CommandTable } from './types.ts';
import { am } from './cmd-am.ts';
import { appops, cmd, monkey, service } from './cmd-cmd.ts';
import { dumpsys } from './cmd-dumpsys.ts';
import { input, wm } from './cmd-input.ts';
import { ip6tables, ip6tablesSave, iptables, iptablesSave } from './cmd-iptables.ts';
import { logcat, logCommand } from './cmd-logcat.ts';
import { screencap, uiautomator } from './cmd-media.ts';
import { nc } from './cmd-nc.ts';
import { pm } from './cmd-package.ts';
import { getprop, setprop } from './cmd-props.ts';
import { settings } from './cmd-settings.ts';
import {
  getenforce,
  id,
  kill,
  magisk,
  mount,
  nsenter,
  pgrep,
  pidof,
  ps,
  reboot,
  setenforce,
  su,
  umount,
  whoami,
} from './cmd-system.ts';

export const androidCommands: CommandTable = {
  am,
  appops,
  cmd,
  dumpsys,
  getenforce,
  getprop,
  id,
  input,
  ip6tables,
  'ip6tables-save': ip6tablesSave,
  iptables,
  'iptables-save': iptablesSave,
  kill,
  log: logCommand,
  logcat,
  magisk,
  monkey,
  mount,
  nc,
  netcat: nc,
  nsenter,
  pgrep,
  pidof,
  pm,
  ps,
  reboot,
  screencap,
  service,
  setenforce,
  setprop,
  settings,
  su,
  uiautomator,
  umount,
  whoami,
  wm,
};
