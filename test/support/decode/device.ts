/** The virtual phone whose identifiers the decode fixtures carry (tests and bench/ share it). */
import type { DeviceInfo } from '../../../src/virtual/telemetry/index.ts';

export const DEVICE: DeviceInfo = {
  model: 'Redmi Note 11',
  brand: 'Redmi',
  manufacturer: 'Xiaomi',
  device: 'spes',
  product: 'spes_global',
  modDevice: 'spes_global',
  osVersion: '13',
  sdk: 33,
  incremental: 'V14.0.4.0.TGCMIXM',
  miuiName: 'V140',
  hyperOs: '',
  region: 'GB',
  buildRegion: 'global',
  language: 'en',
  locale: 'en-GB',
  timezone: 'Europe/London',
  screenWidth: 1080,
  screenHeight: 2400,
  serial: 'VIRT0001',
  androidId: '9774d56d682e549c',
  imeiHash: '0123456789abcdef0123456789abcdef',
  macHash: 'fedcba9876543210fedcba9876543210',
  adId: '3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c',
};
